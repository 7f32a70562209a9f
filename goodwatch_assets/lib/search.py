"""The two ways to search the catalog by DNA: titles having given labels (relational, through the label
links), and titles similar to a title or to free text (vectors, HNSW cosine).

Labels are matched the way they were stored: normalised, then resolved to their canonical label; a label
never stored is matched to the nearest canonical label when it is as close as a merge would have been.
Results carry title and year, and, from the serving tables (``movies``, ``tv_shows``, ``streaming_links``),
the aggregated overall score and where to stream; filters narrow by media, year, minimum score and
streaming country and provider.

Similar titles with filters (pgvector 0.8): a streaming filter kept by few links is answered exactly, through
the links' index; any other query walks the HNSW graph with an iterative scan (relaxed order, re-sorted by
exact distance) until enough titles pass the filters, and is answered exactly when the walk ends short of
them. Figures in ``benchmarks/dna.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import psycopg
from psycopg import sql

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.models.labels import normalise_label
from goodwatch_assets.models.records import DNA_CATEGORIES
from goodwatch_assets.settings import DEFAULT_MERGE_SIMILARITY
from goodwatch_assets.stores.dna_index import connect
from goodwatch_assets.stores.serving_db import ServingDb

HNSW_EF_SEARCH = 200
"""Candidates the HNSW index keeps per query, and per step of an iterative scan (pgvector's default is 40):
recall@10 0.97 at 100k titles, without filters and with one keeping half of them (100: 0.94-0.95)."""
HNSW_CANDIDATES_PER_RESULT = 3
"""Titles the iterative scan hands up per title asked for, re-sorted by exact distance before the cut. In
relaxed order the scan stops at the first titles that pass the filters, not quite the nearest ones: with a
filter keeping 10% of the titles, recall@10 is 0.93 taking 10, 0.95 taking 30."""
EXACT_SCAN_MAX_LINKS = 2000
"""A streaming filter with at most this many current links is answered exactly: its titles are read through
the links' index and compared one by one (1,000 titles in ~5 ms), where the graph walk would pass ~100
titles that fail the filter for each one that passes (20-50 ms, recall 0.90-0.96 at 1% of 100k titles)."""


class SearchError(GoodwatchError):
    """A search that cannot be answered as asked (an unknown label or category, a title without DNA)."""


@dataclass(frozen=True)
class SearchFilters:
    media: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    min_score: float | None = None  # aggregated overall score, percent
    country: str | None = None  # streamable (any offer type) in this country, ISO 3166-1 alpha-2
    provider: int | None = None  # streamable on this provider (TMDB provider id; see Search.provider_id)


@dataclass(frozen=True)
class TitleHit:
    media: str
    tmdb_id: int
    title: str | None
    year: int | None
    score: float | None = None  # aggregated overall score, percent (serving tables)
    score_count: int | None = None  # votes and reviews behind it
    similarity: float | None = None  # cosine similarity, for similarity searches
    streaming: tuple[str, ...] = ()  # current offers, "US: Netflix (flatrate)", in the filtered country if any


@dataclass(frozen=True)
class LabelMatch:
    """A requested label and the canonical labels it stands for (one per category it exists in)."""

    asked: str
    category: str | None
    label_ids: tuple[int, ...]
    matched: tuple[str, ...]  # "Category: Label" of each match


def parse_label(text: str) -> tuple[str | None, str]:
    """``"Mood=Tense"``, ``"Mood: Tense"`` or ``"Tense"`` (any category)."""
    for separator in ("=", ":"):
        category, found, label = text.partition(separator)
        if found and category.strip():
            wanted = category.strip().lower()
            known = next((c for c in DNA_CATEGORIES if c.lower() == wanted), None)
            if known is None:
                raise SearchError(f"unknown DNA category {category.strip()!r}; categories: {', '.join(DNA_CATEGORIES)}")
            return known, label
    return None, text


class Search:
    """Searches over one connection of the serving database (opened on first use; ``close()`` or ``with``)."""

    def __init__(self, db: ServingDb, embedder: Embedder | None = None,
                 merge_similarity: float = DEFAULT_MERGE_SIMILARITY):
        self._db = db
        self._embedder = embedder or Embedder()
        self.merge_similarity = merge_similarity
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._db)
            self._conn.autocommit = True  # read-only queries: no transaction left open between searches
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- by DNA ----------------------------------------------------------------------------------

    def resolve_label(self, text: str) -> LabelMatch:
        category, raw = parse_label(text)
        label = normalise_label(raw)
        if label is None:
            raise SearchError(f"{text!r} is not a label")
        params = {"label": label, "category": category, "model": self._embedder.model_name}
        conn = self._connection()
        rows = conn.execute(
            """SELECT DISTINCT c.id, c.category || ': ' || c.label FROM dna_labels AS l
               JOIN dna_labels AS c ON c.id = coalesce(l.canonical_id, l.id)
               WHERE l.label = %(label)s AND (%(category)s::text IS NULL OR l.category = %(category)s)""",
            params).fetchall()
        if not rows:
            params["vector"] = self._embedder.encode([label])[0]
            rows = conn.execute(
                """SELECT l.id, l.category || ': ' || l.label, 1 - (e.embedding <=> %(vector)s) FROM dna_labels AS l
                   JOIN text_embeddings AS e ON e.model = %(model)s AND e.text = l.label
                   WHERE l.canonical_id IS NULL AND (%(category)s::text IS NULL OR l.category = %(category)s)
                   ORDER BY e.embedding <=> %(vector)s LIMIT 1""", params).fetchall()
            if not rows or rows[0][2] < self.merge_similarity:
                closest = f" (closest: {rows[0][1]}, similarity {rows[0][2]:.2f})" if rows else ""
                raise SearchError(f"no title has the DNA label {text!r}{closest}")
            rows = [rows[0][:2]]
        return LabelMatch(text, category, tuple(r[0] for r in rows), tuple(sorted(r[1] for r in rows)))

    def by_dna(self, labels: Sequence[str], filters: SearchFilters = SearchFilters(), limit: int = 20) -> list[TitleHit]:
        """Titles having every one of ``labels``."""
        if not labels:
            raise SearchError("name at least one DNA label")
        matches = [self.resolve_label(text) for text in labels]
        params = {**_filter_params(filters), "limit": limit, **{f"labels_{i}": list(m.label_ids)
                                                                for i, m in enumerate(matches)}}
        having = sql.SQL(" AND ").join(
            sql.SQL("EXISTS (SELECT 1 FROM title_dna AS d WHERE d.media = v.media AND d.tmdb_id = v.tmdb_id "
                    "AND d.label_id = ANY({}))").format(sql.Placeholder(f"labels_{i}")) for i in range(len(matches)))
        query = sql.SQL("SELECT {columns} FROM {relations} WHERE {having} AND {filters} "
                        "ORDER BY t.popularity DESC NULLS LAST, v.media, v.tmdb_id LIMIT %(limit)s").format(
            columns=_COLUMNS, relations=_RELATIONS, having=having, filters=_where(filters))
        rows = self._connection().execute(query, params).fetchall()
        return self._with_streaming([TitleHit(*row) for row in rows], filters)

    # -- by similarity ---------------------------------------------------------------------------

    def similar_to_title(self, media: str, tmdb_id: int, filters: SearchFilters = SearchFilters(),
                         limit: int = 10) -> list[TitleHit]:
        row = self._connection().execute("SELECT embedding FROM title_vectors WHERE media = %s AND tmdb_id = %s",
                                         (media, tmdb_id)).fetchone()
        if row is None:
            raise SearchError(f"{media} {tmdb_id} has no DNA vector yet")
        return self._nearest(row[0], filters, limit, exclude=(media, tmdb_id))

    def similar_to_text(self, text: str, filters: SearchFilters = SearchFilters(), limit: int = 10) -> list[TitleHit]:
        if not text.strip():
            raise SearchError("describe what to look for")
        return self._nearest(self._embedder.encode([text])[0], filters, limit)

    def _nearest(self, vector: np.ndarray, filters: SearchFilters, limit: int,
                 exclude: tuple[str, int] | None = None) -> list[TitleHit]:
        media, tmdb_id = exclude or (None, None)
        params = {**_filter_params(filters), "vector": vector, "limit": limit, "not_media": media, "not_id": tmdb_id,
                  "candidates": limit * HNSW_CANDIDATES_PER_RESULT, "max_links": EXACT_SCAN_MAX_LINKS}
        where = _where(filters, exclude=exclude is not None)
        conn = self._connection()
        with conn.transaction():
            walk = not _few_streaming_links(conn, filters, params)
            rows = _iterative_scan(conn, _nearest_query(where, exact=False), params) if walk else []
            if len(rows) < limit:  # not walked, or the walk ran out of budget or of graph, or fewer titles pass
                rows = conn.execute(_nearest_query(where, exact=True), params).fetchall()
        return self._with_streaming([TitleHit(*row[:6], similarity=row[6]) for row in rows], filters)

    def _with_streaming(self, hits: list[TitleHit], filters: SearchFilters) -> list[TitleHit]:
        """The hits with their current streaming offers (in the filtered country, when there is one)."""
        if not hits:
            return hits
        rows = self._connection().execute(
            """SELECT l.media, l.tmdb_id, l.country_code || ': ' || coalesce(p.name, 'provider ' || l.provider_id)
                      || ' (' || l.stream_type || ')'
               FROM streaming_links AS l
               JOIN unnest(%(media)s::text[], %(ids)s::int[]) AS k(media, tmdb_id) USING (media, tmdb_id)
               LEFT JOIN streaming_providers AS p USING (provider_id)
               WHERE l.obsolete_at IS NULL AND (%(country)s::text IS NULL OR l.country_code = %(country)s)
               ORDER BY l.country_code, l.display_priority NULLS LAST, 3""",
            {"media": [h.media for h in hits], "ids": [h.tmdb_id for h in hits],
             "country": _filter_params(filters)["country"]},
        ).fetchall()
        offers: dict[tuple[str, int], list[str]] = {}
        for media, tmdb_id, offer in rows:
            offers.setdefault((media, tmdb_id), []).append(offer)
        return [replace(h, streaming=tuple(offers.get((h.media, h.tmdb_id), ()))) for h in hits]

    def provider_id(self, name_or_id: str) -> int:
        """A streaming provider's TMDB id, from the id itself or the provider's name (any case)."""
        if name_or_id.strip().isdigit():
            return int(name_or_id)
        row = self._connection().execute(
            "SELECT provider_id FROM streaming_providers WHERE lower(name) = lower(%s) ORDER BY provider_id LIMIT 1",
            (name_or_id.strip(),)).fetchone()
        if row is None:
            raise SearchError(f"no streaming provider is called {name_or_id!r}")
        return row[0]


_COLUMNS = sql.SQL(
    "v.media, v.tmdb_id, coalesce(t.title, v.title) AS title, coalesce(t.release_year, v.year) AS year, "
    "t.aggregated_overall_score_normalized_percent AS score, t.aggregated_overall_score_voting_count AS score_count")
_RELATIONS = sql.SQL("title_vectors AS v LEFT JOIN titles AS t ON t.media = v.media AND t.tmdb_id = v.tmdb_id")


def _where(filters: SearchFilters, exclude: bool = False) -> sql.Composable:
    """The conditions of the filters that are set (and, with ``exclude``, not the title searched from).

    Only those: a condition the planner sees whole (not ``x IS NULL OR ...``) has its statistics, and the
    streaming one, a plain EXISTS, becomes a semi-join it can drive from the links' index.
    """
    conditions = [sql.SQL("TRUE")]
    if exclude:
        conditions.append(sql.SQL("NOT (v.media = %(not_media)s AND v.tmdb_id = %(not_id)s)"))
    if filters.media is not None:
        conditions.append(sql.SQL("v.media = %(media)s"))
    if filters.year_from is not None:
        conditions.append(sql.SQL("v.year >= %(year_from)s"))
    if filters.year_to is not None:
        conditions.append(sql.SQL("v.year <= %(year_to)s"))
    if filters.min_score is not None:
        conditions.append(sql.SQL("t.aggregated_overall_score_normalized_percent >= %(min_score)s"))
    if filters.country is not None or filters.provider is not None:
        conditions.append(sql.SQL(
            "EXISTS (SELECT FROM streaming_links AS l WHERE l.media = v.media AND l.tmdb_id = v.tmdb_id AND {})"
        ).format(_link_conditions(filters)))
    return sql.SQL(" AND ").join(conditions)


def _link_conditions(filters: SearchFilters) -> sql.Composable:
    """A current streaming link in the filters' country, on their provider (those set)."""
    conditions = [sql.SQL("l.obsolete_at IS NULL")]
    if filters.country is not None:
        conditions.append(sql.SQL("l.country_code = %(country)s"))
    if filters.provider is not None:
        conditions.append(sql.SQL("l.provider_id = %(provider)s"))
    return sql.SQL(" AND ").join(conditions)


def _nearest_query(where: sql.Composable, exact: bool) -> sql.Composed:
    """The ``%(candidates)s`` titles nearest ``%(vector)s`` that pass ``where``, cut to the ``%(limit)s``
    nearest by exact distance.

    ``exact=False`` orders by the distance itself, which the HNSW index answers; ``exact=True`` by the distance
    plus 0, which it cannot, so every title the conditions keep is compared. Two texts rather than one with
    ``enable_indexscan`` off: psycopg prepares a statement run five times, and PostgreSQL may then reuse a
    cached plan made before the SET (the pgvector 0.6 fallback came back short that way).

    The candidates are materialized and re-sorted on ``distance + 0``: from PostgreSQL 17 the planner would
    otherwise take them as already sorted, which an iterative scan in relaxed order does not promise.
    """
    distance = sql.SQL("v.embedding <=> %(vector)s")
    order = sql.SQL("({}) + 0").format(distance) if exact else distance
    return sql.SQL(
        """WITH candidates AS MATERIALIZED (
               SELECT {columns}, {distance} AS distance FROM {relations} WHERE {where}
               ORDER BY {order} LIMIT %(candidates)s)
           SELECT media, tmdb_id, title, year, score, score_count, 1 - distance FROM candidates
           ORDER BY distance + 0 LIMIT %(limit)s""").format(
        columns=_COLUMNS, distance=distance, relations=_RELATIONS, where=where, order=order)


def _few_streaming_links(conn: psycopg.Connection, filters: SearchFilters, params: dict[str, object]) -> bool:
    """Whether the filters name a country or provider with at most :data:`EXACT_SCAN_MAX_LINKS` current links
    (counted through the links' index, up to one past the bound)."""
    if filters.country is None and filters.provider is None:
        return False
    query = sql.SQL("SELECT count(*) FROM (SELECT FROM streaming_links AS l WHERE {} LIMIT %(max_links)s + 1)")
    return conn.execute(query.format(_link_conditions(filters)), params).fetchone()[0] <= EXACT_SCAN_MAX_LINKS


def _iterative_scan(conn: psycopg.Connection, query: sql.Composed, params: dict[str, object]) -> list[tuple]:
    """Rows of an HNSW query with pgvector's iterative scan: the graph walk goes on past ``hnsw.ef_search``
    until enough rows pass the filters (or ``hnsw.max_scan_tuples``, the server's default 20,000, is spent).
    Relaxed order: strict order drops titles found after a farther one, and the query re-sorts anyway."""
    conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}; SET LOCAL hnsw.iterative_scan = relaxed_order").format(
        sql.Literal(HNSW_EF_SEARCH)))  # one round trip for both
    return conn.execute(query, params).fetchall()


def _filter_params(filters: SearchFilters) -> dict[str, object]:
    return {"media": filters.media, "year_from": filters.year_from, "year_to": filters.year_to,
            "min_score": filters.min_score, "country": filters.country and filters.country.upper(),
            "provider": filters.provider}
