"""The Dagster code, by domain: ``sources`` (the upstreams' assets, checks and schedules), ``dna`` (extraction and
vectors), ``serving`` (the tables the app reads), ``priority`` (lane 2) and ``observability``. Each domain has a small
``definitions`` module; the package's root ``definitions.py`` merges them. What the domains share sits beside them:
resources, partitions, freshness, pools, and the per-title source runs and checks."""
