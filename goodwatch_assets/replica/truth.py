"""The replica's ground truth: what a correct pipeline stores for each title, per source."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog
from goodwatch_assets.replica.llm import unknown_to_the_model
from goodwatch_assets.replica.title_pages import title_page_sites


def title_truth(catalog: SyntheticCatalog, entry: CatalogEntry) -> dict[str, Any]:
    d = catalog.details(entry)
    pages = {site.name: site.truth(d.pages[site.name]) if site.name in d.pages else None
             for site in title_page_sites()}
    return {
        "media": entry.media,
        "tmdb_id": entry.tmdb_id,
        "title": entry.title,
        "original_title": entry.original_title,
        "year": entry.year,
        "popularity": entry.popularity,
        "in_export_since": entry.added_on.isoformat() if entry.added_on else None,
        "deleted_on": entry.deleted_on.isoformat() if entry.deleted_on else None,
        "tmdb": {"vote_average": d.vote_average, "vote_count": d.vote_count, "imdb_id": d.imdb_id,
                 "genres": [name for _, name in d.genres], "keywords": [name for _, name in d.keywords],
                 "release_date": d.release_date, "runtime": d.runtime,
                 "offers": sorted([country, kind, provider] for country, kind, provider in d.offers)},
        "imdb": ({"imdb_id": d.imdb_id, "rating": d.imdb_rating, "votes": d.imdb_votes}
                 if d.imdb_rating is not None else None),
        **pages,
        "dna": None if unknown_to_the_model(catalog, entry) else d.dna,
        "dna_archetype": d.archetype,
    }


def ground_truth(catalog: SyntheticCatalog) -> Iterator[dict[str, Any]]:
    for entry in catalog.entries:
        yield title_truth(catalog, entry)
