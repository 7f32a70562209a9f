"""COPY into temporary staging tables: the input of one set-based merge (bulk writes, the combine)."""

from __future__ import annotations

import polars as pl
import psycopg


def stage_rows(cur: psycopg.Cursor, table: str, columns: str, rows: list[tuple]) -> None:
    """COPY rows into a temporary table emptied at commit (the input of one set-based merge)."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
    with cur.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def stage_frame(cur: psycopg.Cursor, table: str, columns: str, frame: pl.DataFrame, slice_rows: int = 100_000) -> None:
    """COPY a polars frame (columns in the table's order) into a temporary table emptied at commit, as CSV
    written by polars slice by slice: no Python object per row, memory bounded by the slice."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
    with cur.copy(f"COPY {table} FROM STDIN (FORMAT csv, NULL '\\N')") as copy:
        for piece in frame.iter_slices(slice_rows):
            copy.write(piece.write_csv(include_header=False, null_value="\\N"))
    cur.execute(f"ANALYZE {table}")  # temporary tables have no statistics: without them the joins plan blind
