"""A wrong setting fails fast with one line naming it: no stack trace, no password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.opening import open_stores

GOODWATCH = str(Path(sys.executable).with_name("goodwatch"))


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``goodwatch`` in a subprocess, with no store settings but those given (and GOODWATCH_DATA_DIR)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URI")}
    environ.update(env)
    return subprocess.run([GOODWATCH, *args], env=environ, capture_output=True, text=True, timeout=120)


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
    from goodwatch_assets.assets.inventory import store_inventory
    from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource

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
