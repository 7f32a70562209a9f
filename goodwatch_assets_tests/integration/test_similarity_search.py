"""Similar titles with filters against exact search: a filter that keeps few titles, all far from the title
searched from (the case the HNSW candidates alone cannot answer), gives the nearest of those it keeps, in
order, and never fewer than asked for when that many pass it; through the links' index and through the
iterative graph walk alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from pgvector.psycopg import register_vector

from goodwatch_assets.lib import search as search_module
from goodwatch_assets.lib.search import Search, SearchFilters
from goodwatch_assets.models.shards import shard_of

NEAR, FAR = 200, 14  # titles around the one searched from, and far from it (the only ones the filters keep)
GERMAN_NETFLIX = SearchFilters(country="DE", provider=8)
FAR_YEAR = SearchFilters(year_from=1950, year_to=1950)


@pytest.fixture
def catalog(dna_db, serving_tables_db) -> dict[int, np.ndarray]:
    """Title vectors by TMDB id (movies): title 1 is searched from; 2..NEAR+1 lie around it, the FAR after
    them around an orthogonal direction, from 1950 and streaming in Germany on provider 8."""
    rng = np.random.default_rng(4)
    near, far = np.eye(384, dtype=np.float32)[0], np.eye(384, dtype=np.float32)[1]
    centres = [near] * (NEAR + 1) + [far] * FAR
    vectors = {tmdb_id: unit(centre + rng.normal(0, 0.05, 384).astype(np.float32))
               for tmdb_id, centre in enumerate(centres, start=1)}
    with dna_db.connect() as conn:
        register_vector(conn)
        for tmdb_id, vector in vectors.items():
            is_far = tmdb_id > NEAR + 1
            conn.execute("""INSERT INTO title_vectors (media, tmdb_id, shard, title, year, model, text_hash, embedding)
                            VALUES ('movie', %s, %s, %s, %s, 'test', '-', %s)""",
                         (tmdb_id, shard_of(tmdb_id), f"T{tmdb_id}", 1950 if is_far else 2000, vector))
            if is_far:
                conn.execute("""INSERT INTO streaming_links (media, tmdb_id, country_code, provider_id, stream_type)
                                VALUES ('movie', %s, 'DE', 8, 'flatrate')""", (tmdb_id,))
        conn.execute("ANALYZE title_vectors, streaming_links")
    return vectors


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """The queries each search runs, in order: "walk" (the HNSW graph walk) or "exact"."""
    ran: list[str] = []
    query = search_module._nearest_query

    def recorded(where, exact):
        ran.append("exact" if exact else "walk")
        return query(where, exact)

    monkeypatch.setattr(search_module, "_nearest_query", recorded)
    return ran


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def exact_nearest(vectors: dict[int, np.ndarray], kept: set[int], limit: int) -> list[int]:
    """The ``limit`` titles of ``kept`` nearest title 1 by cosine similarity, computed here."""
    return sorted(kept, key=lambda tmdb_id: -float(vectors[1] @ vectors[tmdb_id]))[:limit]


def far_titles() -> set[int]:
    return set(range(NEAR + 2, NEAR + 2 + FAR))


@contextmanager
def walking_the_graph(search: Search, *settings: str) -> Iterator[None]:
    """The search's queries in one transaction in which the planner takes the HNSW index even on so few titles
    (the one plan that need not sort the candidates), with ``settings`` (``SET LOCAL`` statements) added."""
    conn = search._connection()
    with conn.transaction():
        for statement in ("SET LOCAL enable_sort = off", *settings):
            conn.execute(statement)
        yield


@pytest.mark.parametrize("filters", [GERMAN_NETFLIX, FAR_YEAR], ids=["streaming", "year"])
def test_a_filter_keeping_few_far_titles_gives_the_nearest_of_them(catalog, dna_db, scans, filters):
    with Search(dna_db, embedder=None) as search:
        hits = search.similar_to_title("movie", 1, filters, limit=10)
    assert [h.tmdb_id for h in hits] == exact_nearest(catalog, far_titles(), 10)
    assert (scans == ["exact"]) == (filters == GERMAN_NETFLIX)  # few links: answered exactly, without a walk
    assert all(a.similarity >= b.similarity for a, b in zip(hits, hits[1:], strict=False))


def test_a_streaming_filter_on_many_links_walks_the_graph_and_still_gives_the_nearest(catalog, dna_db, monkeypatch,
                                                                                      scans):
    monkeypatch.setattr(search_module, "EXACT_SCAN_MAX_LINKS", 3)  # "many": the iterative scan, not the links' index
    with Search(dna_db, embedder=None) as search, walking_the_graph(search):
        hits = search.similar_to_title("movie", 1, GERMAN_NETFLIX, limit=10)
    assert [h.tmdb_id for h in hits] == exact_nearest(catalog, far_titles(), 10)
    assert scans == ["walk"]  # the walk found them all: no exact scan settled it


def test_a_walk_cut_short_is_settled_by_an_exact_scan(catalog, dna_db, monkeypatch, scans):
    """One candidate per step and no budget for more: the graph walk cannot reach ten far titles."""
    monkeypatch.setattr(search_module, "HNSW_EF_SEARCH", 1)
    monkeypatch.setattr(search_module, "HNSW_CANDIDATES_PER_RESULT", 1)
    with Search(dna_db, embedder=None) as search, walking_the_graph(search, "SET LOCAL hnsw.max_scan_tuples = 1"):
        hits = search.similar_to_title("movie", 1, FAR_YEAR, limit=10)
    assert [h.tmdb_id for h in hits] == exact_nearest(catalog, far_titles(), 10)
    assert scans == ["walk", "exact"]


def test_fewer_titles_than_asked_for_pass_the_filter_gives_all_of_them(catalog, dna_db):
    with Search(dna_db, embedder=None) as search:
        hits = search.similar_to_title("movie", 1, GERMAN_NETFLIX, limit=FAR + 5)
        unfiltered = search.similar_to_title("movie", 1, limit=5)
    assert [h.tmdb_id for h in hits] == exact_nearest(catalog, far_titles(), FAR)
    assert [h.tmdb_id for h in unfiltered] == exact_nearest(catalog, set(catalog) - {1}, 5)
