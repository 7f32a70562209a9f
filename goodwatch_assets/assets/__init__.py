"""Thin Dagster assets: pick work, call sources, write stores, report metadata."""
