"""Bulk ingests of whole upstream files into the document store (used by the daily assets and the benchmarks).

Each file is read whole by polars and checked before anything is written, then written with the store's
frame writers: no Python object per row, and only what changed since the last file is written.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from goodwatch_assets.models.queue import Status
from goodwatch_assets.sources import imdb, tmdb
from goodwatch_assets.stores.documents import DocumentStore

NO_RATING = "no rating in IMDb's dataset"


def json_object(*fields: str) -> pl.Expr:
    """The named columns as one JSON object per row, keys sorted (the store replaces NUL characters)."""
    return pl.struct(sorted(fields)).struct.json_encode()


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


def rating_documents(ratings: pl.DataFrame, catalog_ids: pl.DataFrame) -> pl.DataFrame:
    """One document per catalog title with an IMDb id: its rating, or "not found" when IMDb has none."""
    rated = pl.col("rating").is_not_null()
    values = json_object("imdb_id", "rating", "votes")
    return catalog_ids.join(ratings, on="imdb_id", how="left").select(
        "media", "tmdb_id",
        payload=pl.when(rated).then(values),
        record=pl.when(rated).then(values).otherwise(
            pl.struct(imdb_id="imdb_id", not_found=pl.lit(NO_RATING)).struct.json_encode()),
        status=pl.when(rated).then(pl.lit(str(Status.OK))).otherwise(pl.lit(str(Status.NOT_FOUND))),
    )


def ingest_imdb_ratings(store: DocumentStore, body: bytes) -> dict[str, Any]:
    """IMDb's ratings file joined to the catalog's IMDb ids; the whole file is read before anything is written."""
    ratings = imdb.read_ratings(io.BytesIO(body))
    catalog_ids = store.field_values(tmdb.SPEC.name, "imdb_id").rename({"value": "imdb_id"})
    outcome = store.upsert_frame(imdb.SPEC.name, rating_documents(ratings, catalog_ids))
    return {"file_rows": ratings.height, "catalog_titles_with_imdb_id": catalog_ids.height,
            "changed": outcome.inserted + outcome.changed, "unchanged": outcome.unchanged, "stored": outcome.written}
