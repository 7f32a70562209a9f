"""Rotten Tomatoes pages as the replica serves them: the 2026 layout, and pages still in the 2023 one.

Like ``fixtures/real/rottentomatoes/pawelkrupinski_2026-06_m_fight_club_EXCERPT.html``: the scores in
``script#media-scorecard-json`` and in ``<media-scorecard>`` slots, JSON-LD with the Tomatometer as a
string and the directors, ``script#media-hero-json`` with the year and runtime among ``metadataProps``, and the
ad-targeting trap: ``window.mpscall`` carries a misleading ``cag[score]`` that must never be read as the score.
Pages of the 2023 layout carry their scores as attributes of ``<score-board-deprecated>`` with the title and
"year, genre, runtime" in its slots (only a band of the audience count). Shows may be dated by a later season.
"""

from __future__ import annotations

import html
import random
from typing import TYPE_CHECKING, Any

import orjson

from goodwatch_assets.replica.title_pages import TitlePages
from goodwatch_assets.sources import rotten_tomatoes as source

if TYPE_CHECKING:
    from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog


def _banded(count: int) -> str:
    for floor, label in ((250_000, "250,000+"), (100_000, "100,000+"), (50_000, "50,000+"), (10_000, "10,000+"),
                         (1_000, "1,000+"), (100, "100+"), (50, "50+")):
        if count >= floor:
            return f"{label} Ratings"
    return f"{count} Ratings"


def values(rng: random.Random, entry: CatalogEntry) -> dict[str, Any]:
    critic_count = rng.choice((0, rng.randint(3, 400)))
    liked = rng.randint(0, critic_count)
    audience_count = rng.choice((0, rng.randint(50, 300_000)))
    audience_liked = rng.randint(0, audience_count)
    return {
        # RT shows no Tomatometer below 5 reviews, and no Popcornmeter without ratings.
        "tomatometer": round(100 * liked / critic_count) if critic_count >= 5 else None,
        "critic_count": critic_count, "critic_liked": liked,
        "audience_score": round(100 * audience_liked / audience_count) if audience_count else None,
        "audience_count": audience_count, "audience_liked": audience_liked,
        "certified": critic_count >= 80 and liked / max(critic_count, 1) >= 0.75,
    }


def page(catalog: SyntheticCatalog, entry: CatalogEntry, rt: dict[str, Any]) -> str:
    d = catalog.details(entry)
    title, year, path = rt["page_title"], rt["page_year"], rt["path"]
    critics = {
        "averageRating": f"{4 + (rt['critic_liked'] % 50) / 10:.2f}", "certified": rt["certified"],
        "likedCount": rt["critic_liked"], "notLikedCount": rt["critic_count"] - rt["critic_liked"],
        "ratingCount": rt["critic_count"], "reviewCount": rt["critic_count"],
        "reviewsPageUrl": f"{path}/reviews", "title": "Tomatometer",
    }
    if rt["tomatometer"] is not None:  # without a score the real page leaves the keys out
        critics.update(score=str(rt["tomatometer"]), scorePercent=f"{rt['tomatometer']}%")
    audience = {
        "bandedRatingCount": _banded(rt["audience_count"]), "likedCount": rt["audience_liked"],
        "notLikedCount": rt["audience_count"] - rt["audience_liked"],
        "scoreType": "ALL", "certified": False, "title": "Popcornmeter",
    }
    if rt["audience_score"] is not None:
        audience.update(score=str(rt["audience_score"]), scorePercent=f"{rt['audience_score']}%")
    scorecard = {"audienceScore": audience, "criticsScore": critics, "description": d.overview,
                 "hideAudienceScore": False, "overlay": {"audienceAll": audience, "criticsAll": critics}}
    runtime = f"{rt['runtime'] // 60}h {rt['runtime'] % 60}m" if rt["runtime"] else ""
    hero = {"content": {"metadataGenres": [name for _, name in d.genres], "title": title,
                        "metadataProps": [p for p in (d.certification, str(year), runtime) if p]}}
    ld = {"@context": "http://schema.org", "@type": "Movie" if entry.media == "movie" else "TVSeries", "name": title,
          "url": f"https://www.rottentomatoes.com{path}", "dateCreated": f"{year}-01-01",
          "director": [{"@type": "Person", "name": name} for name in rt["directors"] or ("NA",)]}
    if rt["tomatometer"] is not None:
        ld["aggregateRating"] = {"@type": "AggregateRating", "bestRating": "100", "worstRating": "0",
                                 "ratingValue": str(rt["tomatometer"]), "ratingCount": rt["critic_count"],
                                 "reviewCount": rt["critic_count"], "name": "Tomatometer"}
    # The trap: ad targeting carries a stale, wrong "score" and "fresh_rotten".
    mpscall = {"cag[certified_fresh]": "0", "cag[fresh_rotten]": "rotten", "cag[movieshow]": title,
               "cag[score]": "null" if rt["tomatometer"] is None else str((rt["tomatometer"] + 37) % 100),
               "cag[urlid]": path.split("/", 2)[-1], "type": "movie_page"}
    esc = html.escape
    if rt["layout"] == "scoreboard":
        return _scoreboard_page(entry, rt, d, ld, mpscall, runtime)
    return f"""<!DOCTYPE html>
<html lang="en" dir="ltr"><head>
<title>{esc(title)} | Rotten Tomatoes</title>
<link rel="canonical" href="https://www.rottentomatoes.com{path}" />
<script id="mps-page-integration">window.mpscall = {orjson.dumps(mpscall).decode()};</script>
<script type="application/ld+json">{orjson.dumps(ld).decode()}</script>
</head><body>
<div id="hero-wrap"><script id="media-hero-json" data-json="mediaHero" type="application/json">{orjson.dumps(hero).decode()}</script></div>
<div class="media-scorecard no-border" data-qa="section:media-scorecard">
<media-scorecard hide-audience-score="false" skeleton="panel">
<rt-button slot="critics-score-icon"><score-icon-critics certified="{str(rt['certified']).lower()}" size="2.5"></score-icon-critics></rt-button>
<rt-text slot="critics-score" context="label" role="button" size="1.375">{critics.get('scorePercent', '')}</rt-text>
<rt-text slot="critics-score-type" class="critics-score-type" size="0.75">Tomatometer</rt-text>
<rt-link slot="critics-reviews" size="small" href="{path}/reviews">
    {rt['critic_count']} Reviews
</rt-link>
<rt-text slot="audience-score" context="label" role="button" size="1.375">{audience.get('scorePercent', '')}</rt-text>
<rt-text slot="audience-score-type" class="audience-score-type" size="0.75">Popcornmeter</rt-text>
<rt-link slot="audience-reviews" size="small" href="{path}/reviews/all-audience">
    {audience['bandedRatingCount']}
</rt-link>
<div slot="description"><rt-text slot="content" size="1">{esc(d.overview)}</rt-text></div>
</media-scorecard>
<media-scorecard-manager>
<script id="media-scorecard-json" data-json="mediaScorecard" type="application/json">
{orjson.dumps(scorecard).decode()}
</script>
</media-scorecard-manager>
</div>
</body></html>
"""


def _scoreboard_page(entry: CatalogEntry, rt: dict[str, Any], d, ld: dict[str, Any], mpscall: dict[str, Any],
                     runtime: str) -> str:
    """The 2023 layout: ``<score-board-deprecated>`` with the scores as attributes."""
    esc = html.escape
    genre = d.genres[0][1]
    info = ", ".join(p for p in (str(rt["page_year"]), genre, runtime) if p)
    state = "" if rt["tomatometer"] is None else "certified-fresh" if rt["certified"] else \
        "fresh" if rt["tomatometer"] >= 60 else "rotten"
    return f"""<!DOCTYPE html>
<html lang="en" dir="ltr"><head>
<title>{esc(rt["page_title"])} | Rotten Tomatoes</title>
<script id="mps-page-integration">window.mpscall = {orjson.dumps(mpscall).decode()};</script>
<script type="application/ld+json">{orjson.dumps(ld).decode()}</script>
</head><body>
<div id="topSection"><div class="thumbnail-scoreboard-wrap">
<score-board-deprecated audiencestate="upright" class="scoreboard" data-qa="score-panel" id="scoreboard" skeleton="panel"
  audiencescore="{'' if rt['audience_score'] is None else rt['audience_score']}"
  tomatometerscore="{'' if rt['tomatometer'] is None else rt['tomatometer']}" tomatometerstate="{state}"
  mediatype="{'Movie' if entry.media == 'movie' else 'TvSeries'}" rating="{esc(d.certification)}">
<h1 slot="title" class="scoreboard__title" data-qa="score-panel-title">{esc(rt["page_title"])}</h1>
<p slot="info" class="scoreboard__info">{esc(info)}</p>
<a slot="critics-count" href="{rt['path']}/reviews" class="scoreboard__link scoreboard__link--tomatometer"
  data-qa="tomatometer-review-count">{rt['critic_count']} Reviews</a>
<a slot="audience-count" href="{rt['path']}/reviews?type=user" class="scoreboard__link scoreboard__link--audience"
  data-qa="audience-rating-count">{_banded(rt['audience_count'])}</a>
</score-board-deprecated>
</div></div>
</body></html>
"""


def _truth(rt: dict[str, Any]) -> dict[str, Any]:
    """What the page says: the 2023 layout shows the audience count only as a band."""
    truth = {key: rt[key] for key in ("path", "tomatometer", "critic_count", "audience_score", "audience_count")}
    if rt["layout"] == "scoreboard":
        truth["audience_count"] = None
    return truth


PAGES = TitlePages(
    source=source.SPEC, share={"movie": 0.75, "tv": 0.6}, slug=source.slug,
    paths={"movie": "/m/{slug}", "tv": "/tv/{slug}"}, year_suffix="_{year}", counter_suffix="_{n}",
    values=values, render=page, truth=_truth,
    breaking=((b'"criticsScore":{', b'"criticsScore":{{'), (b'tomatometerscore="', b'tomatometerscore="~')),
    layouts=(("current", 0.85), ("scoreboard", 0.15)), later_season_share=0.3,
    wikidata_id=lambda path: path.strip("/"), wikidata_share=0.85,
)
