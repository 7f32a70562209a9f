"""The serving tables' daily reconcile: eager automation combines a partition when its sources change; once a day
every partition is combined anyway (incremental: it writes what automation has not combined yet, if anything), in
one run per media type over its 16 partitions."""

import dagster as dg

from goodwatch_assets.defs.partitions import media_ranges, range_tags
from goodwatch_assets.defs.run_resources import run_tags
from goodwatch_assets.defs.runs import LANE1_TAGS
from goodwatch_assets.defs.serving.assets import serving_tables


@dg.schedule(name="serving_reconcile", cron_schedule="40 5 * * *", execution_timezone="UTC",
             target=dg.AssetSelection.assets(serving_tables),
             description="Every serving partition's combine once a day (incremental: it writes what eager automation "
                         "has not combined yet, if anything).")
def serving_reconcile(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.isoformat()
    tags = {**LANE1_TAGS, **run_tags(serving_tables)}
    return [dg.RunRequest(run_key=f"serving:{first}..{last}:{tick}", tags={**tags, **range_tags(first, last)})
            for first, last in media_ranges()]
