"""GoodWatch Assets: a Dagster project that keeps the GoodWatch catalog complete and fresh."""

__version__ = "0.1.0"
