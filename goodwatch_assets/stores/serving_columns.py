"""Where each column of ``movies`` and ``tv_shows`` comes from: one table of SQL expressions over a title's
documents, which the combine turns into its merge (``stores/combine.py``).

Each source's document of a title is joined under an alias (``d`` TMDB details, ``i`` IMDb, ``m`` Metacritic,
``r`` Rotten Tomatoes, ``t`` TV Tropes, ``n`` DNA; only documents with status ``ok``), its record's fields under
the alias with ``r`` appended (``dr.title``), the stored row as ``o``.
A column marked ``kept`` keeps its stored value when the new one is missing (no document, a null field, an
empty list): an upstream that lost a value never erases it here. The rest follow upstream exactly: the
streaming countries (they mirror the current links) and the DNA label ids (they mirror ``title_dna``).

Scores are stored as the source gives them (``*_original``), as percent (``*_normalized_percent``) and with
their counts. The aggregates follow the original GoodWatch formulas:

* user percent: mean of the available TMDB, IMDb, Metacritic user and Rotten Tomatoes audience percents;
  its count: the sum of their counts;
* official percent: mean of the available Metascore and Tomatometer; its count: their review counts summed;
* overall percent: mean of the available user and official percents; its count: both counts summed.

A TMDB vote average with no votes (TMDB answers 0.0) is no score.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_ALIASES = {
    "tmdb_details": "d",
    "imdb_ratings": "i",
    "metacritic": "m",
    "rotten_tomatoes": "r",
    "tvtropes": "t",
    "dna": "n",
}
"""Every document-store source the serving rows are made from, and its alias in the column expressions."""
DETAILS_SOURCE = "tmdb_details"
"""A title has a serving row once its TMDB details are stored: they carry its title."""


@dataclass(frozen=True)
class Column:
    name: str
    value: str  # SQL of the new value, over the joined documents
    kept: bool = True
    array: bool = False  # an empty list counts as missing

    @property
    def merged(self) -> str:
        """The value written: the new one, or the stored one where the new one is missing (``kept``)."""
        if not self.kept:
            return self.value
        if self.array:
            return f"CASE WHEN cardinality({self.value}) > 0 THEN {self.value} ELSE coalesce(o.{self.name}, '{{}}') END"
        return f"coalesce({self.value}, o.{self.name})"


RECORD_FIELDS = {
    "d": 'title text, original_title text, overview text, original_language text, release_date date, year int, '
         'runtime int, status text, popularity float8, vote_average real, vote_count int, imdb_id text, genres text[], '
         'keywords text[], "cast" text[], directors text[], certification text, alternative_titles jsonb, '
         'number_of_seasons int, number_of_episodes int, offers jsonb',
    "i": "rating real, votes int",
    "m": "url text, metascore int, critic_count int, user_score real, user_count int",
    "r": "url text, tomatometer int, critic_count int, audience_score int, audience_count int",
    "t": "tropes text[]",
    "n": "dna jsonb",
}
"""The record fields each source's columns read, typed: a record is unpacked once per document
(``jsonb_to_record``, as ``<alias>r``), not once per field (each ``->>`` would decompress the record again)."""


def _percent(field: str, scale: int = 1) -> str:
    return f"({field} * {scale})::real" if scale != 1 else f"{field}::real"


_TMDB_VOTED = "dr.vote_count > 0"
DNA_LABEL_IDS = "ARRAY(SELECT td.label_id FROM title_dna AS td WHERE td.media = k.media AND td.tmdb_id = k.tmdb_id " \
                "ORDER BY td.label_id)"
"""A title's canonical DNA label ids (``k``: the title's key), as the DNA index linked them."""

TITLE_COLUMNS: tuple[Column, ...] = (
    Column("title", "dr.title"),
    Column("original_title", "dr.original_title"),
    Column("overview", "dr.overview"),
    Column("original_language", "dr.original_language"),
    Column("release_date", "dr.release_date"),
    Column("release_year", "dr.year"),
    Column("runtime", "dr.runtime"),
    Column("status", "dr.status"),
    Column("adult", "(d.hints -> 'export' ->> 'adult')::boolean"),
    Column("popularity", "coalesce(d.popularity, dr.popularity)"),
    Column("certification", "dr.certification"),
    Column("imdb_id", "dr.imdb_id"),
    Column("genres", "dr.genres", array=True),
    Column("keywords", "dr.keywords", array=True),
    Column("cast_names", 'dr."cast"', array=True),
    Column("directors", "dr.directors", array=True),
    Column("alternative_titles", "ARRAY(SELECT a ->> 1 FROM jsonb_array_elements(dr.alternative_titles) AS a)",
           array=True),
    Column("tmdb_user_score_original", f"CASE WHEN {_TMDB_VOTED} THEN dr.vote_average END"),
    Column("tmdb_user_score_normalized_percent", f"CASE WHEN {_TMDB_VOTED} THEN {_percent('dr.vote_average', 10)} END"),
    Column("tmdb_user_score_rating_count", "dr.vote_count"),
    Column("imdb_user_score_original", "ir.rating"),
    Column("imdb_user_score_normalized_percent", _percent("ir.rating", 10)),
    Column("imdb_user_score_rating_count", "ir.votes"),
    Column("metacritic_url", "mr.url"),
    Column("metacritic_meta_score_original", "mr.metascore"),
    Column("metacritic_meta_score_normalized_percent", _percent("mr.metascore")),
    Column("metacritic_meta_score_review_count", "mr.critic_count"),
    Column("metacritic_user_score_original", "mr.user_score"),
    Column("metacritic_user_score_normalized_percent", _percent("mr.user_score", 10)),
    Column("metacritic_user_score_rating_count", "mr.user_count"),
    Column("rotten_tomatoes_url", "rr.url"),
    Column("rotten_tomatoes_tomato_score_original", "rr.tomatometer"),
    Column("rotten_tomatoes_tomato_score_normalized_percent", _percent("rr.tomatometer")),
    Column("rotten_tomatoes_tomato_score_review_count", "rr.critic_count"),
    Column("rotten_tomatoes_audience_score_original", "rr.audience_score"),
    Column("rotten_tomatoes_audience_score_normalized_percent", _percent("rr.audience_score")),
    Column("rotten_tomatoes_audience_score_rating_count", "rr.audience_count"),
    Column("trope_names", "tr.tropes", array=True),
    Column("dna", "nr.dna"),
    Column("dna_label_ids", DNA_LABEL_IDS, kept=False),
    Column("streaming_country_codes",
           "ARRAY(SELECT DISTINCT x ->> 'country' FROM jsonb_array_elements(dr.offers) AS x ORDER BY 1)", kept=False),
    Column("tmdb_details_updated_at", "d.changed_at"),
    Column("imdb_ratings_updated_at", "i.changed_at"),
    Column("metacritic_updated_at", "m.changed_at"),
    Column("rotten_tomatoes_updated_at", "r.changed_at"),
    Column("tvtropes_updated_at", "t.changed_at"),
    Column("dna_updated_at", "n.changed_at"),
)
TV_COLUMNS: tuple[Column, ...] = (
    Column("number_of_seasons", "dr.number_of_seasons"),
    Column("number_of_episodes", "dr.number_of_episodes"),
)
SERVING_TABLES = {"movie": "movies", "tv": "tv_shows"}


def columns_of(media: str) -> tuple[Column, ...]:
    return TITLE_COLUMNS + (TV_COLUMNS if media == "tv" else ())


def _mean(values: list[str]) -> str:
    total = " + ".join(f"coalesce({v}, 0)" for v in values)
    present = " + ".join(f"({v} IS NOT NULL)::int" for v in values)
    return f"(({total}) / nullif({present}, 0))::real"


def _count(pairs: list[tuple[str, str]]) -> str:
    """The counts of the scores that are present, summed (null when none is)."""
    any_present = " OR ".join(f"{score} IS NOT NULL" for score, _ in pairs)
    total = " + ".join(f"coalesce(CASE WHEN {score} IS NOT NULL THEN {count} END, 0)" for score, count in pairs)
    return f"CASE WHEN {any_present} THEN ({total})::bigint END"


_USER = [("tmdb_user_score_normalized_percent", "tmdb_user_score_rating_count"),
         ("imdb_user_score_normalized_percent", "imdb_user_score_rating_count"),
         ("metacritic_user_score_normalized_percent", "metacritic_user_score_rating_count"),
         ("rotten_tomatoes_audience_score_normalized_percent", "rotten_tomatoes_audience_score_rating_count")]
_OFFICIAL = [("metacritic_meta_score_normalized_percent", "metacritic_meta_score_review_count"),
             ("rotten_tomatoes_tomato_score_normalized_percent", "rotten_tomatoes_tomato_score_review_count")]

USER_AND_OFFICIAL = {
    "aggregated_user_score_normalized_percent": _mean([score for score, _ in _USER]),
    "aggregated_user_score_rating_count": _count(_USER),
    "aggregated_official_score_normalized_percent": _mean([score for score, _ in _OFFICIAL]),
    "aggregated_official_score_review_count": _count(_OFFICIAL),
}
"""The first aggregates, over the merged per-source columns."""
OVERALL = {
    "aggregated_overall_score_normalized_percent": _mean(["aggregated_user_score_normalized_percent",
                                                          "aggregated_official_score_normalized_percent"]),
    "aggregated_overall_score_voting_count": _count([
        ("aggregated_user_score_normalized_percent", "aggregated_user_score_rating_count"),
        ("aggregated_official_score_normalized_percent", "aggregated_official_score_review_count")]),
}
"""The overall aggregate, over the first ones."""
