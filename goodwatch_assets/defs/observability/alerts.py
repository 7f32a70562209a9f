"""Failures reach a person: a failed run, and a failed asset check, are posted to a webhook.

The webhook takes Slack-compatible JSON (``{"text": …}``: Slack, Mattermost, Teams' and Discord's Slack-compatible
endpoints) at ``GOODWATCH_ALERT_WEBHOOK_URL``. Unset, alerts are only logged. A webhook that does not take an alert
fails the sensor's tick, so the next tick posts it again; its URL, which holds the webhook's token, is never logged.
"""

from __future__ import annotations

import json

import dagster as dg

from goodwatch_assets.defs.resources import AlertWebhookResource

MESSAGE_CHARS = 600
"""How much of a failure's message an alert carries (a stack trace's first lines)."""


def failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun, run_message: str) -> str:
    """The errors of the run's failed steps (the run's own failure message only names them), else the run's."""
    lines = []
    for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = event.dagster_event.step_failure_data.error
        while error is not None and error.cause is not None:  # Dagster wraps the step's own error
            error = error.cause
        if error is not None:
            lines.append(f"{event.step_key}: {error.message.strip()}")
    return "\n".join(lines) or run_message


def run_failure_text(run: dg.DagsterRun, message: str) -> str:
    partition = run.tags.get("dagster/partition") or "..".join(
        filter(None, (run.tags.get("dagster/asset_partition_range_start"),
                      run.tags.get("dagster/asset_partition_range_end"))))
    assets = ", ".join(sorted(key.to_user_string() for key in run.asset_selection or ())) or run.job_name
    where = f" [{partition}]" if partition else ""
    return f":red_circle: GoodWatch run failed: {assets}{where}, run {run.run_id}\n{message[:MESSAGE_CHARS]}"


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Posts every failed run (its assets, partition, run id and error) to GOODWATCH_ALERT_WEBHOOK_URL.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertWebhookResource) -> None:
    run = context.dagster_run
    message = failure_message(context.instance, run, context.failure_event.message or "")
    alerts.send(run_failure_text(run, message), context.log)


@dg.sensor(
    name="check_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Posts every asset check that failed since the last tick (check, partition, metadata) to "
                "GOODWATCH_ALERT_WEBHOOK_URL.",
)
def check_failure_alert(context: dg.SensorEvaluationContext, alerts: AlertWebhookResource) -> dg.SkipReason:
    """The cursor holds, per check, the newest evaluation already looked at (a check still running is looked at
    again)."""
    seen = json.loads(context.cursor) if context.cursor else {}
    keys = list(context.repository_def.asset_graph.asset_check_keys)
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    failed = []
    for key, record in sorted(latest.items(), key=lambda item: item[1].id):
        name = key.to_user_string()
        if record.id <= seen.get(name, 0) or record.event is None or record.status.value != "FAILED":
            continue
        evaluation = record.event.dagster_event.asset_check_evaluation_data
        metadata = ", ".join(f"{k}={v.value}" for k, v in list(evaluation.metadata.items())[:8])
        partition = f" [{evaluation.partition}]" if evaluation.partition else ""
        failed.append(f":warning: GoodWatch check failed ({evaluation.severity.value}): {name}{partition}, "
                      f"run {record.run_id}\n{metadata}"[:MESSAGE_CHARS])
    for text in failed:  # a webhook that fails fails the tick: its cursor is not kept, the next tick posts again
        alerts.send(text, context.log)
    context.update_cursor(json.dumps({**seen, **{key.to_user_string(): record.id for key, record in latest.items()
                                                 if record.status.value != "PLANNED"}}))
    return dg.SkipReason(f"{len(failed)} failed checks posted" if failed else "no check failed since the last tick")
