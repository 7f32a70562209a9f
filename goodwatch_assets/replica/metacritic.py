"""Metacritic pages as the replica serves them: the post-2023 (Nuxt) layout, and older pages in the microdata layout.

Like ``fixtures/real/metacritic``: JSON-LD with the Metascore as a number (and no ``aggregateRating``
at all when there is no Metascore) and the directors, whose ``duration`` is the trailer's (a trap: not the
runtime); the critic and user score blocks under ``[data-testid=critic-reviews]`` / ``[data-testid=user-reviews]``;
the hero's metadata with the year and the runtime (``2 h 32 m``); the IMDb id in the ``__NUXT_DATA__`` payload
(a flat devalue array whose objects point at their values by index); and the trap: critic review cards carry their
own ``.c-siteReviewScore[title="Metascore N out of 100"]`` badges. Pages not rebuilt since the redesign carry
schema.org microdata (``itemprop``) only.
"""

from __future__ import annotations

import html
import random
from typing import TYPE_CHECKING, Any

import orjson

from goodwatch_assets.replica.title_pages import TitlePages
from goodwatch_assets.sources import metacritic as source

if TYPE_CHECKING:
    from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog


def _block(kind: str, header: str, value: str, title_attr: str, count_text: str, path: str) -> str:
    return (
        f'<div class="order-1" data-testid="{kind}"><h2 class="global-section-header__title">'
        f'<a href="{path}{kind}/">{"Critic Reviews" if kind == "critic-reviews" else "User Reviews"}</a></h2>'
        '<div class="flex items-stretch" data-testid="global-score-wrapper">'
        f'<div data-testid="global-score-header">{header}</div>'
        f'<div data-testid="global-score-review-count"><a data-testid="global-score-review-count-link" '
        f'href="{path}{kind}/">{count_text}</a></div>'
        f'<div data-testid="global-score"><div title="{title_attr}" aria-label="{title_attr}" '
        f'data-testid="global-score-value-wrapper"><span data-testid="global-score-value">{value}</span></div></div>'
        "</div>"
    )


def values(rng: random.Random, entry: CatalogEntry) -> dict[str, Any]:
    critic_count = rng.randint(4, 60)
    has_metascore = rng.random() < 0.9
    user_count = rng.choice((0, rng.randint(4, 5000)))
    return {
        "metascore": rng.randint(12, 98) if has_metascore else None,
        "critic_count": critic_count if has_metascore else 0,
        "user_score": round(rng.uniform(1.5, 9.5), 1) if user_count else None,
        "user_count": user_count,
    }


def _nuxt_data(title: str, imdb_id: str | None) -> str:
    """A devalue payload: objects map their keys to the indexes of their values."""
    product: dict[str, int] = {"title": 4}
    payload: list = [["ShallowReactive", 1], {"data": 2}, {"product": 3}, product, title]
    if imdb_id:
        product["imdbId"] = len(payload)
        payload.append(imdb_id)
    return orjson.dumps(payload).decode()


def _runtime(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60} m" if minutes >= 60 else f"{minutes} m"


def page(catalog: SyntheticCatalog, entry: CatalogEntry, mc: dict[str, Any]) -> str:
    if mc["layout"] == "microdata":
        return _microdata_page(entry, mc)
    title, year, path = mc["page_title"], mc["page_year"], mc["path"]
    ld = {"@context": "https://schema.org", "@type": "Movie" if entry.media == "movie" else "TVSeries",
          "name": title, "datePublished": f"{year}-06-01", "url": f"https://www.metacritic.com{path}",
          "trailer": {"@type": "VideoObject", "duration": "PT1M23S"}}
    if mc["directors"]:
        ld["director"] = [{"@type": "Person", "name": name} for name in mc["directors"]]
    if mc["metascore"] is not None:
        ld["aggregateRating"] = {"@type": "AggregateRating", "name": "Metascore", "bestRating": 100, "worstRating": 0,
                                 "ratingValue": mc["metascore"], "reviewCount": mc["critic_count"]}
    if mc["metascore"] is None:
        critic = _block("critic-reviews", "Metascore", "tbd", "Metascore to be determined",
                        "Available after 4 critic reviews", path)
    else:
        critic = _block("critic-reviews", "Metascore", str(mc["metascore"]), f"Metascore {mc['metascore']} out of 100",
                        f"Based on {mc['critic_count']:,} Critic Reviews", path)
    # A critic card with its own score badge: the selector trap.
    card_score = (mc["metascore"] or 50) // 2 + 50
    critic += (
        '<a data-testid="review-card-header" href="/publication/daily-planet/"><div class="c-siteReviewScore_background">'
        f'<div class="c-siteReviewScore c-siteReviewScore_green" title="Metascore {card_score} out of 100" '
        f'aria-label="Metascore {card_score} out of 100"><span>{card_score}</span></div></div> Daily Planet</a></div>'
    )
    if mc["user_score"] is None:
        user = _block("user-reviews", "User score", "tbd", "User score to be determined",
                      "Available after 4 user ratings", path)
    else:
        user = _block("user-reviews", "User score", f"{mc['user_score']:.1f}", f"User score {mc['user_score']:.1f} out of 10",
                      f"Based on {mc['user_count']:,} User Ratings", path)
    user += "</div>"
    hero = [str(year), "PG-13"] + ([_runtime(mc["runtime"])] if mc["runtime"] else [])
    esc = html.escape
    return f"""<!DOCTYPE html><html lang="en"><head><title>{esc(title)} reviews - Metacritic</title>
<script type="application/ld+json">{orjson.dumps(ld).decode()}</script></head><body>
<div data-testid="hero-title"><h1>{esc(title)}</h1></div>
<div class="c-heroMetadata"><ul>{"".join(f'<li class="c-heroMetadata_item"><span>{esc(item)}</span></li>' for item in hero)}</ul></div>
{critic}
{user}
<script type="application/json" data-nuxt-data="nuxt-app" data-ssr="true" id="__NUXT_DATA__">{_nuxt_data(title, mc["imdb_id"])}</script>
</body></html>
"""


def _microdata_page(entry: CatalogEntry, mc: dict[str, Any]) -> str:
    """A page of the pre-2023 layout: schema.org microdata, the Metascore in ``.metascore_w``."""
    esc = html.escape
    kind = "Movie" if entry.media == "movie" else "TVSeries"
    directors = "".join(f'<span itemprop="director" itemscope itemtype="https://schema.org/Person"><a href="/person/x">'
                        f'<span itemprop="name">{esc(name)}</span></a></span>' for name in mc["directors"])
    score = ""
    if mc["metascore"] is not None:
        score = (f'<div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">'
                 f'<span itemprop="ratingValue" class="metascore_w larger movie positive">{mc["metascore"]}</span>'
                 f'<meta itemprop="bestRating" content="100"><span class="based_on">based on '
                 f'<span itemprop="reviewCount">{mc["critic_count"]}</span> Critic Reviews</span></div>')
    else:
        score = '<span class="metascore_w larger movie tbd">tbd</span>'
    user = ('<span class="metascore_w user larger movie tbd">tbd</span>' if mc["user_score"] is None else
            f'<span class="metascore_w user larger movie positive">{mc["user_score"]:.1f}</span>'
            f'<span class="count"><a href="{mc["path"]}user-reviews">{mc["user_count"]:,} Ratings</a></span>')
    runtime = (f'<span itemprop="duration" content="PT{mc["runtime"]}M">{mc["runtime"]} min</span>'
               if mc["runtime"] else "")
    return f"""<!DOCTYPE html><html lang="en"><head><title>{esc(mc["page_title"])} Reviews - Metacritic</title></head>
<body><div class="product_page" itemscope itemtype="https://schema.org/{kind}">
<div class="product_title"><h1 itemprop="name">{esc(mc["page_title"])}</h1></div>
<span class="release_date"><span class="label">Release Date:</span> <span itemprop="datePublished">Jun 1, {mc["page_year"]}</span></span>
<div class="director"><span class="label">Director:</span> {directors}</div>
<div class="runtime"><span class="label">Runtime:</span> {runtime}</div>
<div class="score_summary metascore_summary">{score}</div>
<div class="score_summary user_summary">{user}</div>
</div></body></html>
"""


def _truth(mc: dict[str, Any]) -> dict[str, Any]:
    """What the page says: no count where there is no score yet ("Available after 4 critic reviews")."""
    return {"path": mc["path"], "metascore": mc["metascore"],
            "critic_count": mc["critic_count"] if mc["metascore"] is not None else None,
            "user_score": mc["user_score"], "user_count": mc["user_count"] if mc["user_score"] is not None else None}


PAGES = TitlePages(
    source=source.SPEC, share={"movie": 0.55, "tv": 0.45}, slug=source.slug,
    paths={"movie": "/movie/{slug}/", "tv": "/tv/{slug}/"}, year_suffix="-{year}", counter_suffix="-{n}",
    values=values, render=page,
    truth=_truth,
    breaking=((b'"ratingValue":', b'"ratingValue":"x'),
              (b'<span data-testid="global-score-value">', b'<span data-testid="global-score-value">~'),
              (b'<span itemprop="ratingValue" class="metascore_w larger movie positive">',
               b'<span itemprop="ratingValue" class="metascore_w larger movie positive">~'),
              (b'class="metascore_w larger movie tbd">tbd<', b'class="metascore_w larger movie tbd">t~d<')),
    layouts=(("current", 0.88), ("microdata", 0.12)),
    wikidata_id=lambda path: path.strip("/"), wikidata_share=0.8,
)
