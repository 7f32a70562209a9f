"""TMDB: its sites, the ``tmdb_details`` source's spec, daily id exports, API v3 details with appends, watch
providers, trending, provider lists.

Quirks kept here: movie keywords sit under ``keywords.keywords`` and TV under
``keywords.results``; TV IMDb ids only in ``external_ids``; a title may lack a region in
``watch/providers``; alternative titles are ``titles`` for movies and ``results`` for TV.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import orjson
import polars as pl

from goodwatch_assets.errors import ParseError, parsing, rejects_malformed
from goodwatch_assets.fetching.client import FetchFailed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.queue import FetchedDocument, Status
from goodwatch_assets.models.records import StreamingOffer, TitleDetails, validate
from goodwatch_assets.sources.spec import (
    WEEKLY,
    Column,
    Kept,
    QueueSettings,
    RefreshAges,
    Serving,
    SourceSpec,
    Sweep,
    as_percent,
)

FILES = SitePolicy("tmdb_files", "https://files.tmdb.org", 2, concurrency=2, timeout_s=300)
"""The daily id exports."""
API = SitePolicy("tmdb_api", "https://api.themoviedb.org", 40, pool_limit=4, concurrency=16, timeout_s=20)
"""API v3: details, trending. Four runs of 10 requests/s each refresh four shards at once."""
SITES = (FILES, API)
MOVIE_APPENDS = "external_ids,watch/providers,keywords,credits,release_dates,alternative_titles,translations"
TV_APPENDS = "external_ids,watch/providers,keywords,credits,content_ratings,alternative_titles,translations"
OFFER_TYPES = ("flatrate", "rent", "buy", "ads", "free")


def export_file_name(media: str, day: date) -> str:
    kind = "movie_ids" if media == "movie" else "tv_series_ids"
    return f"{kind}_{day:%m_%d_%Y}.json.gz"


def details_path(media: str, tmdb_id: int) -> tuple[str, dict[str, str]]:
    return f"/3/{media}/{tmdb_id}", {"append_to_response": MOVIE_APPENDS if media == "movie" else TV_APPENDS}


def iter_export(compressed: bytes) -> Iterator[dict[str, Any]]:
    """Rows of a daily export, streamed; a truncated or corrupt file raises ParseError naming the line."""
    stream = gzip.GzipFile(fileobj=io.BytesIO(compressed))
    line_number = 0
    try:
        for line_number, line in enumerate(stream, start=1):  # noqa: B007 - used in the error
            if not line.strip():
                continue
            row = orjson.loads(line)
            if not isinstance(row, dict) or type(row.get("id")) is not int or not isinstance(
                    row.get("popularity", 0), int | float | None) or isinstance(row.get("popularity"), bool):
                raise ParseError(f"line {line_number} is not an export row: {line[:80]!r}")
            yield row
    except (EOFError, OSError, zlib.error) as error:
        raise ParseError(f"the export file is truncated or corrupt after line {line_number}: {error}") from error
    except orjson.JSONDecodeError as error:
        raise ParseError(f"line {line_number} of the export is not JSON: {error}") from error


def read_export(compressed: bytes) -> pl.DataFrame:
    """A whole daily export as a frame (``id``, ``popularity`` and the title's other fields), read by polars.

    Any defect raises ParseError before anything can be written: a truncated or corrupt gzip or a line that
    is not a JSON object with an integer id (named by :func:`iter_export`), or a file without titles (which
    would otherwise mark the whole catalog deleted).
    """
    problem = "its columns do not hold an integer id and a numeric popularity"
    try:
        frame = pl.read_ndjson(io.BytesIO(gzip.decompress(compressed)), infer_schema_length=None)
    except (EOFError, OSError, zlib.error, pl.exceptions.PolarsError) as error:
        frame, problem = None, str(error).splitlines()[0] if str(error) else type(error).__name__
    if frame is None or "id" not in frame.columns or not frame.schema["id"].is_integer() or frame["id"].null_count() \
            or not frame.schema.get("popularity", pl.Float64).is_numeric():
        rows = sum(1 for _ in iter_export(compressed))  # the line-by-line reader names the first bad line
        if rows:
            raise ParseError(f"the export file's {rows} rows could not be read as one table: {problem}")
    if frame is None or frame.height == 0:
        raise ParseError("the export file has no titles")
    if "popularity" not in frame.columns:
        frame = frame.with_columns(popularity=pl.lit(None, pl.Float64))
    return frame


def parse_offers(providers: dict[str, Any]) -> tuple[StreamingOffer, ...]:
    """``{"results": {CC: {link, flatrate: [...], rent: [...], ...}}}`` -> one offer per country, provider and type."""
    offers = []
    for country, region in sorted((providers.get("results") or {}).items()):
        for offer_type in OFFER_TYPES:
            for provider in region.get(offer_type) or []:
                offers.append(StreamingOffer(
                    country=country, provider_id=provider["provider_id"], provider_name=provider["provider_name"],
                    type=offer_type, display_priority=provider.get("display_priority"), link=region.get("link"),
                ))
    return tuple(offers)


def keywords_of(block: dict[str, Any]) -> tuple[str, ...]:
    """Keyword names of a ``keywords`` block: movies list them under ``keywords``, TV under ``results``."""
    items = block.get("keywords") if "keywords" in block else block.get("results")
    return tuple(k["name"] for k in items or [])


def cast_of(credits: dict[str, Any], limit: int = 10) -> tuple[str, ...]:
    return tuple(c["name"] for c in (credits.get("cast") or [])[:limit])


def directors_of(credits: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c["name"] for c in credits.get("crew") or [] if c.get("job") == "Director")


def translations_of(block: dict[str, Any], media: str) -> tuple[tuple[str, str, str], ...]:
    """(country, language, title) of each translation that has a title (``data.title`` for movies, ``data.name``
    for shows; most translations leave it empty)."""
    key = "title" if media == "movie" else "name"
    return tuple((t.get("iso_3166_1") or "", t.get("iso_639_1") or "", (t.get("data") or {}).get(key) or "")
                 for t in block.get("translations") or [] if (t.get("data") or {}).get(key))


def _certification(body: dict[str, Any], media: str) -> str | None:
    if media == "movie":
        for region in (body.get("release_dates") or {}).get("results") or []:
            if region.get("iso_3166_1") == "US":
                return next((r["certification"] for r in region.get("release_dates", []) if r.get("certification")), None)
        return None
    for region in (body.get("content_ratings") or {}).get("results") or []:
        if region.get("iso_3166_1") == "US":
            return region.get("rating") or None
    return None


@rejects_malformed("TMDB's details")
def parse_details(body: dict[str, Any] | bytes | str, media: str) -> TitleDetails:
    raw = body
    if not isinstance(body, dict):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ParseError(f"TMDB answered something that is not JSON: {error}", raw) from error
        if not isinstance(body, dict):
            raise ParseError("TMDB answered JSON that is not an object", raw)
    movie = media == "movie"
    released = body.get("release_date") if movie else body.get("first_air_date")
    alternatives = body.get("alternative_titles") or {}
    credits = body.get("credits") or {}
    try:
        offers = parse_offers(body.get("watch/providers") or {})
        release_date = date.fromisoformat(released) if released else None
        last_air_date = date.fromisoformat(body["last_air_date"]) if not movie and body.get("last_air_date") else None
        translations = translations_of(body.get("translations") or {}, media)
    except (KeyError, TypeError, ValueError) as error:
        raise ParseError(f"TMDB details of {media} {body.get('id')}: {error}", raw if raw is not body else None) from error
    external = body.get("external_ids") or {}
    return validate(
        TitleDetails, None if isinstance(raw, dict) else raw,
        media=media, tmdb_id=body.get("id"),
        title=body.get("title") if movie else body.get("name"),
        original_title=body.get("original_title") if movie else body.get("original_name"),
        overview=body.get("overview") or None,
        original_language=body.get("original_language"), release_date=release_date,
        year=release_date.year if release_date else None,
        runtime=body.get("runtime") if movie else next(iter(body.get("episode_run_time") or []), None),
        status=body.get("status"), popularity=body.get("popularity"),
        vote_average=body.get("vote_average"), vote_count=body.get("vote_count"),
        imdb_id=(body.get("imdb_id") if movie else None) or external.get("imdb_id") or None,
        genres=tuple(g["name"] for g in body.get("genres") or []),
        keywords=keywords_of(body.get("keywords") or {}),
        cast=cast_of(credits),
        directors=directors_of(credits),
        certification=_certification(body, media),
        alternative_titles=tuple((t.get("iso_3166_1", ""), t["title"])
                                 for t in alternatives.get("titles") or alternatives.get("results") or []),
        translations=translations, last_air_date=last_air_date,
        number_of_seasons=None if movie else body.get("number_of_seasons"),
        number_of_episodes=None if movie else body.get("number_of_episodes"),
        offers=offers,
    )


def parse_title_list(body: dict[str, Any]) -> list[tuple[str | None, int, float | None]]:
    """Trending / popular pages: (media_type or None, id, popularity) per result."""
    return [(r.get("media_type"), r["id"], r.get("popularity")) for r in body.get("results") or []]


def parse_provider_list(body: dict[str, Any]) -> list[tuple[int, str, str | None, int | None]]:
    """``/3/watch/providers/{movie|tv}``: (provider_id, name, logo_path, display_priority)."""
    return [(p["provider_id"], p["provider_name"], p.get("logo_path"), p.get("display_priority"))
            for p in body.get("results") or []]


TRENDING_WINDOWS = ("day", "week")


def auth(api_key: str | None, bearer_token: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The query parameters and headers that carry TMDB credentials (a v3 key or a v4 bearer token)."""
    return ({"api_key": api_key} if api_key else {}), ({"Authorization": f"Bearer {bearer_token}"} if bearer_token else {})


async def fetch_trending(client, pages: int = 1) -> dict[tuple[str, str], list[tuple[int, float | None]]]:
    """TMDB's trending movies and shows of the day and of the week: (media, window) -> [(id, popularity)], in
    rank order, ``pages`` pages (20 titles each) per list."""
    lists: dict[tuple[str, str], list[tuple[int, float | None]]] = {}
    for media in ("movie", "tv"):
        for window in TRENDING_WINDOWS:
            items: list[tuple[int, float | None]] = []
            for page in range(1, pages + 1):
                path = f"/3/trending/{media}/{window}"
                response = await client.get(path, params={"page": page})
                if response.status_code != 200:
                    raise FetchFailed(f"{API.name}: {path} answered HTTP {response.status_code}")
                try:
                    listed = parse_title_list(orjson.loads(response.content))
                    items += [(tmdb_id, popularity) for _, tmdb_id, popularity in listed]
                except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                    raise ParseError(f"{API.name}: {path} is not a trending page: {error}", response.content) from None
            lists[(media, window)] = items
    return lists


async def fetch_changes(client, media: str, day: date) -> list[int]:
    """The ids of the titles TMDB's changes feed lists for ``day`` (``/3/{movie|tv}/changes``, every page)."""
    ids: list[int] = []
    page, pages = 1, 1
    while page <= pages:
        path = f"/3/{media}/changes"
        response = await client.get(path, params={"start_date": day.isoformat(), "end_date": day.isoformat(),
                                                  "page": page})
        if response.status_code != 200:
            raise FetchFailed(f"{API.name}: {path} answered HTTP {response.status_code}")
        try:
            body = orjson.loads(response.content)
            ids += [int(item["id"]) for item in body["results"]]
            pages = int(body.get("total_pages") or 1)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ParseError(f"{API.name}: {path} is not a changes page: {error}", response.content) from None
        page += 1
    return ids


async def fetch_details(client, reservation) -> FetchedDocument:
    """One title's details: one request with every append, parsed to a TitleDetails."""
    path, params = details_path(reservation.media, reservation.tmdb_id)
    response = await client.get(path, params=params)
    if response.status_code == 404:
        return FetchedDocument(reservation.media, reservation.tmdb_id, None, status=Status.NOT_FOUND,
                               record={"not_found": "TMDB has no such title"})
    if response.status_code != 200:
        raise FetchFailed(f"{API.name}: {path} answered HTTP {response.status_code}")
    url = client.policy.url(path)  # without the query: it carries the API key
    with parsing(url):
        return details_document(reservation.media, reservation.tmdb_id, response.content, url)


def details_document(media: str, tmdb_id: int, body: bytes, url: str | None) -> FetchedDocument:
    """The document of a title's details answer (``url``: where it came from), or ParseError."""
    record = parse_details(body, media)
    if record.tmdb_id != tmdb_id:
        raise ParseError(f"asked for {tmdb_id}, TMDB answered {record.tmdb_id}", body)
    return FetchedDocument(media, tmdb_id, orjson.loads(body), record=record.model_dump(mode="json"), source_url=url,
                           popularity=record.popularity)


def replay_details(kept: Kept) -> FetchedDocument:
    """A quarantined title's kept details answer, parsed with today's parser (no request)."""
    return details_document(kept.media, kept.tmdb_id, kept.body, kept.url)


_VOTED = "dr.vote_count > 0"  # TMDB answers a vote average of 0.0 for a title nobody voted on: no score

SPEC = SourceSpec(
    name="tmdb_details",
    description="TMDB details with external ids, watch providers (streaming offers per country, provider and type), "
                "keywords, credits, certifications and alternative titles. Every title the daily export lists is "
                "queued here; each fetched title is queued for the sources that need its names and year.",
    site=API,
    freshness=WEEKLY,
    # Edits reach the details within a day through the changes feed (``tmdb_changes``); the ages catch the rest.
    queue=QueueSettings(refresh_age=timedelta(days=7), batch_size=100,
                        refresh_ages=RefreshAges(airing_show=timedelta(days=7), other_show=timedelta(days=30),
                                                 recent_movie=timedelta(days=7), other_movie=timedelta(days=30))),
    handle=fetch_details,
    replay=replay_details,
    sweep=Sweep("5 * * * *", timedelta(hours=1)),
    check_ranges={"vote_average": (0, 10), "vote_count": (0, None), "popularity": (0, None)},
    serving=Serving(
        alias="d", rows=True,
        record_fields='title text, original_title text, overview text, original_language text, release_date date, '
                      'year int, runtime int, status text, popularity float8, vote_average real, vote_count int, '
                      'imdb_id text, genres text[], keywords text[], "cast" text[], directors text[], '
                      'certification text, alternative_titles jsonb, number_of_seasons int, number_of_episodes int, '
                      'offers jsonb',
        columns=(
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
            Column("tmdb_user_score_original", f"CASE WHEN {_VOTED} THEN dr.vote_average END"),
            Column("tmdb_user_score_normalized_percent", f"CASE WHEN {_VOTED} THEN {as_percent('dr.vote_average', 10)} END"),
            Column("tmdb_user_score_rating_count", "dr.vote_count"),
            Column("streaming_country_codes",
                   "ARRAY(SELECT DISTINCT x ->> 'country' FROM jsonb_array_elements(dr.offers) AS x ORDER BY 1)",
                   kept=False),
            Column("number_of_seasons", "dr.number_of_seasons", media="tv"),
            Column("number_of_episodes", "dr.number_of_episodes", media="tv"),
        ),
        user_scores=(("tmdb_user_score_normalized_percent", "tmdb_user_score_rating_count"),),
    ),
)
