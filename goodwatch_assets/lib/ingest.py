"""Bulk ingests of whole upstream files into the document store (used by the daily assets and the benchmarks).

Each file is read whole by polars and checked before anything is written, then written with the store's
bulk writers (``sync_catalog``, ``upsert_lookup``): no Python object per row, the comparison with what is stored
done by the store (in SQL on PostgreSQL), and only what changed since the last file written.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from goodwatch_assets.sources import imdb, tmdb
from goodwatch_assets.stores.documents import DocumentStore

NO_RATING = "no rating in IMDb's dataset"


def export_entries(export: pl.DataFrame) -> pl.DataFrame:
    """The details queue's entries of an export: each title with its popularity, and the export's other
    fields (title, adult, video) as the hint ``export``."""
    fields = [name for name in export.columns if name not in ("id", "popularity")]
    return export.select(tmdb_id=pl.col("id"), popularity=pl.col("popularity"),
                         hints=pl.struct(pl.struct(sorted(fields)).alias("export")).struct.json_encode()
                         if fields else pl.lit(None, pl.String))


def ingest_export(store: DocumentStore, media: str, compressed: bytes) -> dict[str, Any]:
    """One media type's daily export into the TMDB details queue: read and checked whole first (a corrupt or
    truncated file raises ParseError and changes nothing); new titles queued, known ones get the day's
    popularity and fields (only where they differ), titles back in the export are revived, and titles absent
    from it are marked deleted, not dropped."""
    export = tmdb.read_export(compressed)
    synced = store.sync_catalog(tmdb.SPEC.name, media, export_entries(export))
    return {"rows": export.height, "new": synced.new, "deleted": synced.deleted}


def ingest_imdb_ratings(store: DocumentStore, body: bytes) -> dict[str, Any]:
    """IMDb's ratings file joined to the catalog's IMDb ids: one document per catalog title with an IMDb id, its
    rating, or "not found" when IMDb has none. The whole file is read and checked before anything is written."""
    ratings = imdb.read_ratings(io.BytesIO(body))
    rated = ratings.drop_nulls("rating")  # a row without a rating (\N) is no rating
    outcome = store.upsert_lookup(imdb.SPEC.name, rated, key="imdb_id", catalog_source=tmdb.SPEC.name,
                                  missing=NO_RATING)
    return {"file_rows": ratings.height, "catalog_titles_with_imdb_id": outcome.written,
            "changed": outcome.inserted + outcome.changed, "unchanged": outcome.unchanged, "stored": outcome.written}
