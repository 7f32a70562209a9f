"""Failures reach a person: a failed run and a failed asset check are posted to a webhook on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from goodwatch_assets.defs.observability.alerts import check_failure_alert, run_failure_alert
from goodwatch_assets.defs.partitions import catalog_partitions
from goodwatch_assets.defs.resources import AlertNotDelivered, AlertWebhookResource

TOKEN = "T000/B000/s3cret-token"


class Receiver:
    """A webhook on loopback: what it was posted, and the status it answers."""

    def __init__(self, status: int = 200):
        self.posted: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@dg.asset(partitions_def=catalog_partitions)
def fails():
    raise RuntimeError("the upstream answered nonsense")


@dg.asset
def stored(): ...


@dg.asset_check(asset=stored)
def rows_match_the_catalog() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"rows": 10, "catalog": 12})


def test_a_failed_run_is_posted_with_its_asset_partition_run_and_error(receiver):
    job = dg.Definitions(assets=[fails]).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:  # as the daemon launches it: the asset job, its assets selected
        result = job.execute_in_process(instance=instance, asset_selection=[fails.key], partition_key="movie|03",
                                        raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=result.dagster_run, resources={"alerts": AlertWebhookResource(url=receiver.url)},
        ).for_run_failure()
        run_failure_alert(context)
    (posted,) = receiver.posted
    first, *error = posted["text"].splitlines()
    assert first == f":red_circle: GoodWatch run failed: fails [movie|03], run {result.run_id}"
    assert error == ["fails: RuntimeError: the upstream answered nonsense"]  # the step's own error, not only its name


def test_a_failed_check_is_posted_once_and_a_webhook_that_refuses_fails_the_tick_without_its_url(receiver):
    defs = dg.Definitions(assets=[stored], asset_checks=[rows_match_the_catalog])
    with dg.instance_for_test() as instance:
        assert dg.materialize([stored, rows_match_the_catalog], instance=instance).success  # a non-blocking check

        def tick(url: str, cursor: str | None):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                              resources={"alerts": AlertWebhookResource(url=url)})
            return check_failure_alert(context), context.cursor

        skipped, cursor = tick(receiver.url, None)
        (posted,) = receiver.posted
        assert posted["text"].startswith(":warning: GoodWatch check failed (ERROR): stored:rows_match_the_catalog")
        assert posted["text"].endswith("\ncatalog=12, rows=10") and "1 failed checks posted" in skipped.skip_message
        again, cursor = tick(receiver.url, cursor)
        assert len(receiver.posted) == 1 and "no check failed" in again.skip_message  # posted once

        dg.materialize([stored, rows_match_the_catalog], instance=instance, raise_on_error=False)
        receiver.status = 500
        with pytest.raises(AlertNotDelivered, match=r"GOODWATCH_ALERT_WEBHOOK_URL\) answered 500") as refused:
            tick(receiver.url, cursor)
        assert TOKEN not in str(refused.value)
        receiver.status = 200
        tick(receiver.url, cursor)  # the next tick, from the cursor the failed one did not move, posts it
        assert len(receiver.posted) == 3


def test_without_a_webhook_an_alert_is_only_logged():
    logged = []

    class Log:
        def info(self, message):
            logged.append(message)

    assert AlertWebhookResource(url=None).send("a run failed", Log()) is False
    assert logged == ["GOODWATCH_ALERT_WEBHOOK_URL is not set; the alert, not posted: a run failed"]
