"""Settings: the environment read in one place, into every site's and source's settings."""

from __future__ import annotations

import pytest

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import Settings, StoreSettings
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tmdb
from goodwatch_assets.sources.registry import SITES


def test_policies_come_from_the_environment():
    settings = Settings.from_env({"GOODWATCH_REPLICA_URL": "http://127.0.0.1:8700/",
                                  "GOODWATCH_METACRITIC_BASE_URL": "http://127.0.0.1:9000/mc",
                                  "GOODWATCH_TMDB_API_RPS": "12.5"})
    assert settings.site(tmdb.API).base_url == "http://127.0.0.1:8700/tmdb_api"
    assert settings.site(tmdb.API).requests_per_second == 12.5
    assert settings.site(metacritic.SPEC.site).base_url == "http://127.0.0.1:9000/mc"
    live = Settings.from_env({})
    assert live.site(rotten_tomatoes.SPEC.site).base_url == rotten_tomatoes.SPEC.site.base_url
    assert rotten_tomatoes.SPEC.site.base_url.startswith("https://")
    assert all(live.site(site).base_url == site.base_url for site in SITES)  # the real sites unless told otherwise
    with pytest.raises(ConfigurationError, match="GOODWATCH_TMDB_API_RPS: expected a number"):
        Settings.from_env({"GOODWATCH_TMDB_API_RPS": "fast"})
    with pytest.raises(ConfigurationError, match="GOODWATCH_IMDB_DATASETS_BASE_URL: expected an http"):
        Settings.from_env({"GOODWATCH_IMDB_DATASETS_BASE_URL": "ftp://x"})


def test_every_site_has_a_replica_prefix_of_its_own_name():
    settings = Settings.from_env({"GOODWATCH_REPLICA_URL": "http://127.0.0.1:8700"})
    for site in SITES:
        assert settings.site(site).base_url == f"http://127.0.0.1:8700/{site.name}" + (
            "/v1" if site.base_url.endswith("/v1") else "")


def test_the_llm_endpoint_takes_the_name_openai_tools_read_and_its_own_setting_wins():
    from goodwatch_assets.sources import dna

    assert Settings.from_env({"LLM_BASE_URL": "http://127.0.0.1:1/v1"}).site(dna.LLM).base_url == "http://127.0.0.1:1/v1"
    both = Settings.from_env({"LLM_BASE_URL": "http://a.invalid/v1", "GOODWATCH_LLM_BASE_URL": "http://b.invalid/v1"})
    assert both.site(dna.LLM).base_url == "http://b.invalid/v1"


def test_queue_sizing_per_source_and_secrets_are_only_named():
    settings = Settings.from_env({"GOODWATCH_METACRITIC_BATCH_SIZE": "7", "GOODWATCH_TVTROPES_REFRESH_DAYS": "1.5",
                                  "TMDB_API_KEY": "k-3f9a", "DATABASE_URL": "postgresql://u:pw@h/db"})
    assert settings.queues["metacritic"].batch_size == 7
    assert settings.queues["tvtropes"].refresh_age.total_seconds() == 1.5 * 86400
    assert settings.queues["tmdb_details"].batch_size == tmdb.SPEC.queue.batch_size
    assert settings.secrets == {"TMDB_API_KEY", "DATABASE_URL"}
    assert "k-3f9a" not in repr(settings) and ":pw@" not in repr(settings)
    with pytest.raises(ConfigurationError, match="GOODWATCH_METACRITIC_BATCH_SIZE: expected at least 1"):
        Settings.from_env({"GOODWATCH_METACRITIC_BATCH_SIZE": "0"})
    with pytest.raises(ConfigurationError, match="GOODWATCH_METACRITIC_RPS: expected a rate above 0"):
        Settings.from_env({"GOODWATCH_METACRITIC_RPS": "0"})


def test_a_command_that_needs_the_stores_alone_is_not_stopped_by_another_malformed_setting():
    environ = {"DATABASE_URL": "postgresql://u@h/db", "GOODWATCH_LLM_DAILY_REQUESTS": "lots"}
    assert StoreSettings.from_env(environ).database_url == "postgresql://u@h/db"
    with pytest.raises(ConfigurationError, match="GOODWATCH_LLM_DAILY_REQUESTS: expected a whole number"):
        Settings.from_env(environ)


def test_page_finding_settings_guessing_and_negative_cache_per_source():
    shipped = Settings.from_env({})
    assert shipped.queues["rotten_tomatoes"].guessing is True and shipped.queues["tvtropes"].guessing is False
    assert shipped.queues["tmdb_details"].guessing is None  # not a page-finding source
    assert shipped.queues["metacritic"].negative_cache.days == 90
    changed = Settings.from_env({"GOODWATCH_TVTROPES_GUESSING": "true", "GOODWATCH_METACRITIC_GUESSING": "off",
                                 "GOODWATCH_METACRITIC_NEGATIVE_CACHE_DAYS": "30"})
    assert changed.queues["tvtropes"].guessing and not changed.queues["metacritic"].guessing
    assert changed.queues["metacritic"].negative_cache.days == 30
    with pytest.raises(ConfigurationError, match="GOODWATCH_TVTROPES_GUESSING: expected true or false, got 'maybe'"):
        Settings.from_env({"GOODWATCH_TVTROPES_GUESSING": "maybe"})


def test_the_user_agent_names_a_contact():
    assert "@" in Settings.from_env({}).user_agent
    assert Settings.from_env({"GOODWATCH_USER_AGENT": "Acme/1 (ops@acme.example)"}).user_agent == "Acme/1 (ops@acme.example)"
    assert Settings.from_env({"GOODWATCH_USER_AGENT": "Acme/1 (+https://acme.example/bot)"}).site(tmdb.API).user_agent \
        == "Acme/1 (+https://acme.example/bot)"
    with pytest.raises(ConfigurationError, match="GOODWATCH_USER_AGENT: name a contact"):
        Settings.from_env({"GOODWATCH_USER_AGENT": "python-requests/2.31"})
