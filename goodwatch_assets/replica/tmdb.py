"""TMDB as the replica serves it: daily id exports and API v3 responses shaped like the real ones.

Shapes follow the recorded responses in ``fixtures/real/tmdb``: movie keywords under
``keywords.keywords`` and TV keywords under ``keywords.results``; TV IMDb ids only in
``external_ids``; ``watch/providers`` with regions missing for some titles.
"""

from __future__ import annotations

import gzip
from datetime import date
from typing import Any

import orjson

from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog, TitleDetails, rng_for

_PROVIDERS = {pid: (name, logo) for pid, name, logo in V.PROVIDERS}
APPENDABLE = {"external_ids", "watch/providers", "keywords", "credits", "release_dates", "content_ratings",
              "alternative_titles", "translations"}
CHANGED_SHARE = 0.01
"""Share of the catalog TMDB's changes feed lists on a day."""


def export_file(catalog: SyntheticCatalog, media: str, day: date) -> bytes:
    """``movie_ids_MM_DD_YYYY.json.gz`` / ``tv_series_ids_…``: gzip of one JSON object per line."""
    lines = []
    for entry in catalog.export_entries(media, day):
        popularity = catalog.popularity_on(entry, day)
        if media == "movie":
            row = {"adult": entry.adult, "id": entry.tmdb_id, "original_title": entry.original_title,
                   "popularity": popularity, "video": False}
        else:
            row = {"id": entry.tmdb_id, "original_name": entry.original_title, "popularity": popularity}
        lines.append(orjson.dumps(row))
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=5)


def details(catalog: SyntheticCatalog, entry: CatalogEntry, appends: set[str]) -> dict[str, Any]:
    d = catalog.details(entry)
    body: dict[str, Any] = {
        "adult": entry.adult,
        "backdrop_path": f"/b{entry.tmdb_id}.jpg",
        "genres": [{"id": gid, "name": name} for gid, name in d.genres],
        "homepage": "",
        "id": entry.tmdb_id,
        "original_language": entry.original_language,
        "overview": d.overview,
        "popularity": entry.popularity,
        "poster_path": f"/p{entry.tmdb_id}.jpg",
        "origin_country": ["US"],
        "vote_average": d.vote_average,
        "vote_count": d.vote_count,
    }
    if entry.media == "movie":
        body.update(imdb_id=d.imdb_id, title=entry.title, original_title=entry.original_title,
                    release_date=d.release_date, runtime=d.runtime, status=d.status, video=False,
                    budget=0, revenue=0, tagline="")
    else:
        body.update(name=entry.title, original_name=entry.original_title, first_air_date=d.release_date,
                    last_air_date=d.last_air_date, number_of_seasons=d.seasons, number_of_episodes=d.episodes,
                    episode_run_time=[d.runtime], status=d.status,
                    type="Scripted", in_production=False, networks=[{"id": 49, "name": "HBO"}])
    for append in appends & APPENDABLE:
        body[append] = _APPENDS[append](entry, d)
    return body


def _external_ids(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    ids = {"id": entry.tmdb_id, "imdb_id": d.imdb_id, "wikidata_id": f"Q{entry.tmdb_id * 13}",
           "facebook_id": None, "instagram_id": None, "twitter_id": None}
    if entry.media == "tv":
        ids.update(tvdb_id=entry.tmdb_id + 70_000, freebase_mid=None, tvrage_id=None)
    return ids


def watch_providers(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    results: dict[str, Any] = {}
    kind = "movie" if entry.media == "movie" else "tv"
    for country, offer_type, provider_id in d.offers:
        region = results.setdefault(
            country, {"link": f"https://www.themoviedb.org/{kind}/{entry.tmdb_id}/watch?locale={country}"}
        )
        name, logo = _PROVIDERS[provider_id]
        region.setdefault(offer_type, []).append(
            {"logo_path": logo, "provider_id": provider_id, "provider_name": name,
             "display_priority": len(region.get(offer_type, []))}
        )
    return {"id": entry.tmdb_id, "results": results}


def _keywords(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    items = [{"id": kid, "name": name} for kid, name in d.keywords]
    return {"keywords": items} if entry.media == "movie" else {"results": items}


def _credits(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    cast = [{"id": 9000 + i, "name": name, "character": f"Role {i + 1}", "order": i, "popularity": 10.0 - i}
            for i, name in enumerate(d.cast)]
    crew = [{"id": 8000 + i, "name": name, "job": "Director", "department": "Directing"}
            for i, name in enumerate(d.directors)]
    crew.append({"id": 7000, "name": d.cast[-1], "job": "Producer", "department": "Production"})
    return {"cast": cast, "crew": crew}


def _release_dates(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    return {"results": [{"iso_3166_1": "US", "release_dates": [
        {"certification": d.certification, "iso_639_1": "", "note": "",
         "release_date": f"{d.release_date}T00:00:00.000Z", "type": 3}]}]}


def _content_ratings(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    return {"results": [{"descriptors": [], "iso_3166_1": "US", "rating": d.certification}]}


def _alternative_titles(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    items = [{"iso_3166_1": country, "title": title, "type": ""} for country, title in d.alternative_titles]
    return {"id": entry.tmdb_id, "titles": items} if entry.media == "movie" else {"id": entry.tmdb_id, "results": items}


def _translations(entry: CatalogEntry, d: TitleDetails) -> dict[str, Any]:
    key = "title" if entry.media == "movie" else "name"
    return {"translations": [
        {"iso_3166_1": country, "iso_639_1": language, "name": language, "english_name": language,
         "data": {key: title, "overview": "", "homepage": "", "tagline": ""}}
        for country, language, title in d.translations]}


def changes(catalog: SyntheticCatalog, media: str, day: date, page: int) -> dict[str, Any]:
    """``/3/{movie|tv}/changes``: the titles changed on ``day``, 100 a page."""
    changed = [{"id": e.tmdb_id, "adult": e.adult} for e in catalog.entries
               if e.media == media and rng_for(catalog.seed, "changed", e.index, day.toordinal()).random() < CHANGED_SHARE]
    per_page = 100
    return {"results": changed[(page - 1) * per_page: page * per_page], "page": page,
            "total_pages": max(1, -(-len(changed) // per_page)), "total_results": len(changed)}


_APPENDS = {
    "external_ids": _external_ids, "watch/providers": watch_providers, "keywords": _keywords,
    "credits": _credits, "release_dates": _release_dates, "content_ratings": _content_ratings,
    "alternative_titles": _alternative_titles, "translations": _translations,
}


def trending(catalog: SyntheticCatalog, media: str, window: str, day: date, page: int) -> dict[str, Any]:
    ranked = catalog.trending(None if media == "all" else media, window, day)
    per_page = 20
    chunk = ranked[(page - 1) * per_page: page * per_page]
    results = []
    for entry in chunk:
        d = catalog.details(entry)
        item: dict[str, Any] = {"id": entry.tmdb_id, "media_type": entry.media, "popularity": entry.popularity,
                                "vote_average": d.vote_average, "vote_count": d.vote_count,
                                "original_language": entry.original_language, "adult": entry.adult,
                                "genre_ids": [g for g, _ in d.genres], "overview": d.overview}
        if entry.media == "movie":
            item.update(title=entry.title, original_title=entry.original_title, release_date=d.release_date)
        else:
            item.update(name=entry.title, original_name=entry.original_title, first_air_date=d.release_date)
        results.append(item)
    total = len(ranked)
    return {"page": page, "results": results, "total_pages": max(1, -(-total // per_page)), "total_results": total}
