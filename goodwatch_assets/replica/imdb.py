"""IMDb as the replica serves it: the dataset files and 2025-style title pages (``__NEXT_DATA__``)."""

from __future__ import annotations

import gzip
import html

import orjson

from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog
from goodwatch_assets.sources import metacritic

RATINGS_HEADER = "tconst\taverageRating\tnumVotes"
BASICS_HEADER = "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres"


def ratings_file(catalog: SyntheticCatalog) -> bytes:
    """``title.ratings.tsv.gz``: every rated title of the catalog, plus rows of titles outside it
    (episodes, shorts), as the real file has."""
    rows = []
    for entry in catalog.entries:
        d = catalog.details(entry)
        if d.imdb_rating is not None:
            rows.append(f"{d.imdb_id}\t{d.imdb_rating:.1f}\t{d.imdb_votes}")
        if entry.index % 3 == 0:  # not in the catalog (8-digit ids, as IMDb's newest): ignored by the join
            rows.append(f"tt{20_000_000 + entry.index:08d}\t{(entry.index % 90) / 10 + 1:.1f}\t{entry.index % 500 + 5}")
    rows.sort()  # the real file is sorted by tconst
    return gzip.compress(("\n".join([RATINGS_HEADER, *rows]) + "\n").encode(), compresslevel=5)


def basics_file(catalog: SyntheticCatalog) -> bytes:
    lines = [BASICS_HEADER]
    for entry in catalog.entries:
        d = catalog.details(entry)
        if d.imdb_id is None:
            continue
        kind = "movie" if entry.media == "movie" else "tvSeries"
        end_year = (d.last_air_date or "\\N")[:4] if entry.media == "tv" else "\\N"
        runtime = str(d.runtime) if d.runtime else "\\N"
        genres = ",".join(name.split(" ")[0] for _, name in d.genres)
        lines.append("\t".join((d.imdb_id, kind, entry.title, entry.original_title, "1" if entry.adult else "0",
                                str(entry.year), end_year, runtime, genres)))
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=5)


def title_page(catalog: SyntheticCatalog, entry: CatalogEntry) -> str:
    """A title page whose data sits in ``script#__NEXT_DATA__`` (minified), as on imdb.com since 2023."""
    d = catalog.details(entry)
    mc = d.pages.get(metacritic.SPEC.name)  # IMDb shows the Metascore
    summary = {"aggregateRating": d.imdb_rating, "voteCount": d.imdb_votes or 0, "__typename": "RatingsSummary"}
    next_data = {
        "props": {"pageProps": {
            "tconst": d.imdb_id,
            "aboveTheFoldData": {
                "id": d.imdb_id,
                "titleText": {"text": entry.title, "__typename": "TitleText"},
                "originalTitleText": {"text": entry.original_title, "__typename": "TitleText"},
                "releaseYear": {"year": entry.year, "endYear": None, "__typename": "YearRange"},
                "titleType": {"id": "movie" if entry.media == "movie" else "tvSeries",
                              "isSeries": entry.media == "tv", "__typename": "TitleType"},
                "ratingsSummary": summary,
                "runtime": {"seconds": (d.runtime or 45) * 60, "__typename": "Runtime"},
            },
            "mainColumnData": {
                "ratingsSummary": summary,
                "metacritic": ({"metascore": {"score": mc["metascore"], "__typename": "Metascore"},
                                "__typename": "Metacritic"} if mc and mc["metascore"] is not None else None),
            },
        }},
        "page": "/title/[tconst]",
    }
    ld = {"@context": "https://schema.org", "@type": "Movie" if entry.media == "movie" else "TVSeries",
          "url": f"https://www.imdb.com/title/{d.imdb_id}/", "name": entry.title}
    if d.imdb_rating is not None:
        ld["aggregateRating"] = {"@type": "AggregateRating", "ratingCount": d.imdb_votes, "bestRating": 10,
                                 "worstRating": 1, "ratingValue": d.imdb_rating}
    return (
        f'<!DOCTYPE html><html lang="en-US"><head><title>{html.escape(entry.title)} ({entry.year}) - IMDb</title>'
        f'<script type="application/ld+json">{orjson.dumps(ld).decode()}</script></head><body>'
        f'<h1 data-testid="hero__pageTitle"><span class="hero__primary-text">{html.escape(entry.title)}</span></h1>'
        f'<script id="__NEXT_DATA__" type="application/json">{orjson.dumps(next_data).decode()}</script>'
        "</body></html>"
    )
