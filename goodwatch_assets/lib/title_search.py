"""Titles by name, tolerating typos and accents: "amelie", "Amelei" and "Le fabuleux destin" all find Amélie.

Trigram word similarity (pg_trgm's ``<%``) of the accent-folded, lower-cased query against each title's indexed
``searchable_title`` (title and original title, folded the same way by unaccent), best first; among equals, the more
popular title first.
"""

from __future__ import annotations

from dataclasses import dataclass

from goodwatch_assets.stores.serving_db import ServingDb

MIN_WORD_SIMILARITY = 0.5
"""How much of the query's trigrams a title must share (pg_trgm's default of 0.6 misses two-letter typos in short
titles; below 0.5, unrelated titles sharing a common word come in)."""


@dataclass(frozen=True)
class TitleMatch:
    media: str
    tmdb_id: int
    title: str
    original_title: str | None
    year: int | None
    similarity: float


_QUERY = """
    WITH asked AS (SELECT lower(public.unaccent('public.unaccent'::regdictionary, %(text)s)) AS folded)
    SELECT media, tmdb_id, title, original_title, release_year,
           word_similarity(asked.folded, searchable_title(title, original_title)) AS similarity
    FROM asked, (SELECT 'movie' AS media, tmdb_id, title, original_title, release_year, popularity FROM movies
                 WHERE %(media)s::text IS DISTINCT FROM 'tv'
                 UNION ALL
                 SELECT 'tv', tmdb_id, title, original_title, release_year, popularity FROM tv_shows
                 WHERE %(media)s::text IS DISTINCT FROM 'movie') AS t
    WHERE asked.folded <%% searchable_title(title, original_title)
    ORDER BY similarity DESC, popularity DESC NULLS LAST, media, tmdb_id
    LIMIT %(limit)s
"""


def find_titles(db: ServingDb, text: str, *, media: str | None = None, limit: int = 10) -> list[TitleMatch]:
    """The titles whose name is most like ``text`` (any media unless ``media``), at most ``limit``."""
    with db.connect() as conn:
        conn.execute(f"SET LOCAL pg_trgm.word_similarity_threshold = {MIN_WORD_SIMILARITY}")
        rows = conn.execute(_QUERY, {"text": text.strip(), "media": media, "limit": limit}).fetchall()
    return [TitleMatch(*row) for row in rows]
