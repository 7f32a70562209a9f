"""IMDb: the ``imdb_ratings`` source's spec, the dataset files (read with polars), and what a title page says.

The pipeline reads every rating from the daily ``title.ratings.tsv.gz``, never from pages: the original pipeline
fetched 30,000 pages a day and could not keep up, and since 2026 IMDb answers an honest crawler 403 (a spoofed one a
202 challenge). The page parsers (legacy and Next.js eras) read pages that reach the project otherwise: the
recorded pages of ``fixtures/real`` and the replica's, which imitate them. On pages, JSON (``__NEXT_DATA__``,
JSON-LD) wins over visible text, which may be localised (``9,3``).
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import polars as pl

from goodwatch_assets.errors import ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.records import ImdbRating, validate
from goodwatch_assets.sources.markup import count, decimal, json_ld, parse_html, script_json, text_of, year_in
from goodwatch_assets.sources.spec import DAILY, Column, Serving, SourceSpec, as_percent

RATINGS_FILE = "title.ratings.tsv.gz"
BASICS_FILE = "title.basics.tsv.gz"
RATINGS_COLUMNS = {"tconst": pl.Utf8, "averageRating": pl.Float64, "numVotes": pl.Int64}


BASICS_COLUMNS = ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear", "endYear",
                  "runtimeMinutes", "genres")
_TCONST = r"^tt\d{7,}$"


def read_ratings(source: str | bytes | io.IOBase) -> pl.DataFrame:
    """``title.ratings.tsv(.gz)`` as (imdb_id, rating, votes); a malformed file raises ParseError."""
    try:
        frame = pl.read_csv(source, separator="\t", schema=RATINGS_COLUMNS, quote_char=None, null_values="\\N")
    except (pl.exceptions.PolarsError, OSError, EOFError, ValueError) as error:
        raise ParseError(f"{RATINGS_FILE} is not a readable ratings file: {str(error).splitlines()[0]}") from error
    bad = frame.filter(
        pl.col("tconst").is_null() | ~pl.col("tconst").str.contains(_TCONST)
        | (pl.col("averageRating") < 1) | (pl.col("averageRating") > 10) | (pl.col("numVotes") < 0)
    )
    if bad.height:
        raise ParseError(f"{RATINGS_FILE}: {bad.height} rows out of range, first: {bad.row(0)}")
    return frame.rename({"tconst": "imdb_id", "averageRating": "rating", "numVotes": "votes"})


def read_basics(source: str | bytes | io.IOBase) -> pl.DataFrame:
    """``title.basics.tsv(.gz)``, every column as text; a file without the dataset's columns, or with a row whose
    ``tconst`` is not an IMDb id, raises ParseError."""
    try:
        frame = pl.read_csv(source, separator="\t", quote_char=None, null_values="\\N", infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, EOFError, ValueError) as error:
        raise ParseError(f"{BASICS_FILE} is not readable: {str(error).splitlines()[0]}") from error
    if missing := [column for column in BASICS_COLUMNS if column not in frame.columns]:
        raise ParseError(f"{BASICS_FILE} lacks the columns {missing}")
    bad = frame.filter(pl.col("tconst").is_null() | ~pl.col("tconst").str.contains(_TCONST))
    if bad.height:
        raise ParseError(f"{BASICS_FILE}: {bad.height} rows without an IMDb id, first: {bad.row(0)[:3]}")
    return frame


@rejects_malformed("IMDb's __NEXT_DATA__")
def parse_next_data(data: dict[str, Any], body: str | bytes | None = None) -> ImdbRating:
    props = (data.get("props") or {}).get("pageProps") or {}
    above = props.get("aboveTheFoldData") or {}
    main = props.get("mainColumnData") or {}
    summary = above.get("ratingsSummary") or main.get("ratingsSummary") or {}
    metacritic = (main.get("metacritic") or {}).get("metascore") or {}
    return validate(
        ImdbRating, body,
        imdb_id=props.get("tconst") or above.get("id"),
        rating=summary.get("aggregateRating"), votes=summary.get("voteCount"),
        metascore=metacritic.get("score"),
        title=(above.get("originalTitleText") or above.get("titleText") or {}).get("text"),
        year=(above.get("releaseYear") or {}).get("year"),
    )


@rejects_malformed("the IMDb page")
def parse_title_page(body: str | bytes, imdb_id: str | None = None) -> ImdbRating:
    tree = parse_html(body)
    next_data = script_json(tree, "__NEXT_DATA__")
    if isinstance(next_data, dict):
        return parse_next_data(next_data, body)
    ld = next((o for o in json_ld(tree) if "aggregateRating" in o or o.get("@type") in ("Movie", "TVSeries")), None)
    if ld is None:
        raise ParseError("no __NEXT_DATA__ or JSON-LD on the IMDb page", body)
    rating = ld.get("aggregateRating") or {}
    url = ld.get("url") or ""
    visible = text_of(tree, "//*[@itemprop='ratingValue']")
    return validate(
        ImdbRating, body,
        imdb_id=imdb_id or url.strip("/").split("/")[-1],
        rating=decimal(rating.get("ratingValue")) or decimal(visible),
        votes=count(rating.get("ratingCount")),
        metascore=count(text_of(tree, "//div[contains(@class, 'metacriticScore')]/span")),
        title=ld.get("name"), year=year_in(text_of(tree, "//title")),
    )


@rejects_malformed("IMDb's __NEXT_DATA__")
def parse_next_data_json(raw: bytes | str) -> ImdbRating:
    """The ``__NEXT_DATA__`` JSON on its own (as recorded in fixtures and caches)."""
    try:
        return parse_next_data(orjson.loads(raw), raw)
    except orjson.JSONDecodeError as error:
        raise ParseError(f"__NEXT_DATA__ is not JSON: {error}", raw) from error


SPEC = SourceSpec(
    name="imdb_ratings",
    description="IMDb ratings and votes of every catalog title with an IMDb id, joined from IMDb's daily "
                "title.ratings.tsv.gz (one download instead of one page per title).",
    site=SitePolicy("imdb_datasets", "https://datasets.imdbws.com", 1, concurrency=2, timeout_s=600),
    freshness=DAILY,
    partitions="daily",
    check_ranges={"rating": (1, 10), "votes": (0, None)},
    serving=Serving(
        alias="i", record_fields="rating real, votes int",
        columns=(
            Column("imdb_user_score_original", "ir.rating"),
            Column("imdb_user_score_normalized_percent", as_percent("ir.rating", 10)),
            Column("imdb_user_score_rating_count", "ir.votes"),
        ),
        user_scores=(("imdb_user_score_normalized_percent", "imdb_user_score_rating_count"),),
    ),
)
