"""Bulk ingests of whole upstream files into the document store (used by the daily assets and the benchmarks)."""

from __future__ import annotations

import io
from array import array
from typing import Any

import polars as pl

from goodwatch_assets.sources import imdb, tmdb
from goodwatch_assets.stores.documents import DocumentStore, FetchedDocument, QueueEntry, Status, UpsertOutcome, chunked

EXPORT_SOURCE = "tmdb_export"
DETAILS_SOURCE = "tmdb_details"
IMDB_SOURCE = "imdb_ratings"
EXPORT_BATCH = 50_000


def ingest_export(store: DocumentStore, media: str, compressed: bytes) -> dict[str, Any]:
    """One media type's daily export: validated to its last line first (a corrupt or truncated file
    raises ParseError and changes nothing), then upserted in batches (memory bounded by the batch),
    queued for TMDB details, and titles absent from it marked deleted."""
    rows_total = sum(1 for _ in tmdb.iter_export(compressed))
    present = array("i")
    outcome, queued = UpsertOutcome(), 0
    for rows in chunked(tmdb.iter_export(compressed), EXPORT_BATCH):
        # Popularity moves every day: kept beside the payload, so it does not count as a change.
        outcome += store.upsert(EXPORT_SOURCE, [
            FetchedDocument(media, row["id"], {k: v for k, v in row.items() if k != "popularity"},
                            popularity=row.get("popularity")) for row in rows])
        queued += store.enqueue(DETAILS_SOURCE, [QueueEntry(media, row["id"], row.get("popularity")) for row in rows])
        present.extend(row["id"] for row in rows)
    return {
        "rows": rows_total, "new": outcome.inserted, "changed": outcome.changed,
        "deleted": store.mark_deleted_except(EXPORT_SOURCE, media, present),
        "queued_for_details": queued,
        "details_deleted": store.mark_deleted_except(DETAILS_SOURCE, media, present),
    }


def rating_documents(ratings: pl.DataFrame, catalog_ids: pl.DataFrame) -> list[FetchedDocument]:
    """One document per catalog title with an IMDb id: its rating, or "not found" when IMDb has none."""
    joined = catalog_ids.join(ratings, on="imdb_id", how="left")
    documents = []
    for media, tmdb_id, imdb_id, rating, votes in joined.iter_rows():
        if rating is None:
            documents.append(FetchedDocument(media, tmdb_id, None, status=Status.NOT_FOUND,
                                             record={"not_found": "no rating in IMDb's dataset", "imdb_id": imdb_id}))
        else:
            values = {"imdb_id": imdb_id, "rating": rating, "votes": votes}
            documents.append(FetchedDocument(media, tmdb_id, values, record=values))
    return documents


def ingest_imdb_ratings(store: DocumentStore, body: bytes) -> dict[str, Any]:
    """IMDb's ratings file joined to the catalog's IMDb ids; the whole file is read before anything is written."""
    ratings = imdb.read_ratings(io.BytesIO(body))
    catalog_ids = pl.DataFrame(list(store.field_values(DETAILS_SOURCE, "imdb_id")),
                               schema=["media", "tmdb_id", "imdb_id"], orient="row")
    outcome = store.upsert(IMDB_SOURCE, rating_documents(ratings, catalog_ids))
    return {"file_rows": ratings.height, "catalog_titles_with_imdb_id": catalog_ids.height,
            "changed": outcome.inserted + outcome.changed, "unchanged": outcome.unchanged, "stored": outcome.written}
