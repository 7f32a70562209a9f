"""A wrong setting fails fast with one line naming it (no stack trace, no password), and a corrupt file changes
nothing."""

from __future__ import annotations

import gzip

import dagster as dg
import pytest

from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.sources.assets import tmdb_daily_export
from goodwatch_assets.errors import ConfigurationError, ParseError
from goodwatch_assets.lib.ingest import ingest_export
from goodwatch_assets.settings import Settings, StoreSettings
from goodwatch_assets.stores.opening import open_stores
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import DAY, run_cli


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("DATABASE_URL", "postgresql://goodwatch:s3cret-pw@127.0.0.1:1/goodwatch",
         "DATABASE_URL: cannot connect to postgresql://goodwatch:***@127.0.0.1:1/goodwatch"),
        ("DATABASE_URL", "mysql://goodwatch:s3cret-pw@127.0.0.1/goodwatch",
         "DATABASE_URL: expected a postgresql:// URL, got mysql://goodwatch:***@127.0.0.1/goodwatch"),
        ("DATABASE_URL", "host=127.0.0.1 password=s3cret-pw dbname=goodwatch",
         "DATABASE_URL: expected a postgresql:// URL, got <not a URL>"),
        ("DATABASE_URL", "postgresql://goodwatch@127.0.0.1:1/goodwatch?sslmode=disable&password=s3cret-pw",
         "DATABASE_URL: cannot connect to postgresql://goodwatch@127.0.0.1:1/goodwatch?sslmode=disable&password=***"),
        ("DATABASE_URL", "postgresql://goodwatch:s3cret-pw%zz@127.0.0.1:1/goodwatch",
         "DATABASE_URL: cannot connect to postgresql://goodwatch:***@127.0.0.1:1/goodwatch"),
        ("DATABASE_URL", "postgresql://goodwatch:s3cret-pw@no-such-host.invalid/goodwatch",
         "DATABASE_URL: cannot connect to postgresql://goodwatch:***@no-such-host.invalid/goodwatch"),
    ],
)
def test_a_wrong_database_url_is_one_clear_line(setting, value, expected):
    result = run_cli("stores", "status", **{setting: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}")
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mongodb://reader:s3cret-pw@127.0.0.1:1/?directConnection=true",
         "MONGODB_URI: cannot reach MongoDB at mongodb://reader:***@127.0.0.1:1/?directConnection=true within 5 s"),
        ("http://127.0.0.1:27017", "MONGODB_URI: expected a mongodb:// or mongodb+srv:// URI"),
        ("mongodb://127.0.0.1:1/?directConnection=true&tlsCertificateKeyFilePassword=s3cret-pw",
         "MONGODB_URI: cannot reach MongoDB at mongodb://127.0.0.1:1/?directConnection=true&tlsCertificateKeyFilePassword=***"),
        ("mongodb://reader:s3cret-pw@bad host:::/", "MONGODB_URI: malformed URI"),
    ],
)
def test_a_wrong_mongodb_uri_is_one_clear_line(serving_db, value, expected):
    # The serving database is fine (the test's embedded server); only the document store is wrong.
    result = run_cli("stores", "status", DATABASE_URL=serving_db.url, MONGODB_URI=value)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}")
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr


def test_a_dagster_run_with_a_wrong_database_url_fails_naming_it(monkeypatch):
    from goodwatch_assets.defs.observability.assets import store_inventory
    from goodwatch_assets.defs.resources import DocumentStoreResource, ServingDatabaseResource

    monkeypatch.setenv("DATABASE_URL", "postgresql://goodwatch:s3cret-pw@127.0.0.1:1/goodwatch")
    serving = ServingDatabaseResource(database_url=dg.EnvVar("DATABASE_URL"))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [store_inventory],
            resources={"serving_db": serving, "documents": DocumentStoreResource(serving_db=serving)},
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        messages = " ".join(
            str(record.dagster_event.event_specific_data) if record.dagster_event else record.user_message
            for record in instance.all_logs(result.run_id)
        )
    assert "DATABASE_URL: cannot connect to postgresql://goodwatch:***@127.0.0.1:1/goodwatch" in messages
    assert "s3cret-pw" not in messages


def test_open_stores_raises_the_configuration_error_itself():
    with pytest.raises(ConfigurationError) as caught:
        open_stores(StoreSettings(database_url="postgres://x@127.0.0.1:1/x"))
    assert caught.value.setting == "DATABASE_URL"


def test_a_corrupt_or_truncated_export_fails_clearly_and_changes_nothing(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    good = gzip.compress(b"\n".join(b'{"id": %d, "original_title": "T%d", "popularity": 1.0}' % (i, i)
                                    for i in range(1, 2001)) + b"\n")
    ingest_export(store, "movie", good)
    before = store.count_by_status("tmdb_details")

    truncated = good[: len(good) // 2]
    with pytest.raises(ParseError, match="truncated or corrupt"):
        ingest_export(store, "movie", truncated)
    broken_line = gzip.compress(gzip.decompress(good).replace(b'{"id": 1500,', b'{"id": 1500'))
    with pytest.raises(ParseError, match="line 1500 of the export is not JSON"):
        ingest_export(store, "movie", broken_line)
    # Nothing was written, and nothing was marked deleted for being "absent" from a partial file.
    assert store.count_by_status("tmdb_details") == before == {"pending": 2000}
    with pytest.raises(ParseError, match="no titles"):
        ingest_export(store, "movie", gzip.compress(b"\n"))  # an empty file would otherwise delete every title
    assert store.count_by_status("tmdb_details") == before
    store.close()


def test_live_tmdb_without_a_key_stops_at_launch_with_one_clear_line():
    live = build_resources(Settings.from_env({"GOODWATCH_DATA_DIR": str(Settings.from_env().stores.data_dir)}))
    with dg.instance_for_test() as instance:
        result = dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(), instance=instance,
                                resources=live, raise_on_error=False)
        assert not result.success
        messages = " ".join(str(r.dagster_event.event_specific_data) for r in instance.all_logs(result.run_id)
                            if r.dagster_event)
    assert "TMDB_API_KEY: required to fetch from the live TMDB API" in messages
