"""The Dagster code, by domain: ``sources`` (the upstreams' assets, checks and schedules), ``dna`` (extraction and
vectors), ``serving`` (the tables the app reads), ``priority`` (lane 2) and ``observability``. Each domain has a small
``definitions`` module; the package's root ``definitions.py`` merges them. What the domains share sits beside them:
resources, partitions, freshness, pools, and the per-title source runs and checks."""

import warnings

import dagster as dg

# Two features Dagster does not call stable yet are used on purpose: a single-run backfill policy on the assets that do
# a range of partitions in one run, and asset checks per partition. Their warnings would repeat at every load of the
# code location, in every run worker, and say nothing a user can act on.
warnings.filterwarnings("ignore", "Parameter `backfill_policy`", dg.BetaWarning)
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec", dg.PreviewWarning)
