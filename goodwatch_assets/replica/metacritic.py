"""Metacritic pages as the replica serves them, shaped like the post-2023 (Nuxt) site.

Like ``fixtures/real/metacritic``: JSON-LD with the Metascore as a number (and no ``aggregateRating``
at all when there is no Metascore), the critic and user score blocks under
``[data-testid=critic-reviews]`` / ``[data-testid=user-reviews]``, and the trap: critic review cards
carry their own ``.c-siteReviewScore[title="Metascore N out of 100"]`` badges.
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


def page(catalog: SyntheticCatalog, entry: CatalogEntry, mc: dict[str, Any]) -> str:
    title, year, path = mc["page_title"], mc["page_year"], mc["path"]
    ld = {"@context": "https://schema.org", "@type": "Movie" if entry.media == "movie" else "TVSeries",
          "name": title, "datePublished": f"{year}-06-01", "url": f"https://www.metacritic.com{path}",
          "trailer": {"@type": "VideoObject", "duration": "PT1M23S"}}
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
    esc = html.escape
    return f"""<!DOCTYPE html><html lang="en"><head><title>{esc(title)} reviews - Metacritic</title>
<script type="application/ld+json">{orjson.dumps(ld).decode()}</script></head><body>
<div data-testid="hero-title"><h1>{esc(title)}</h1></div>
<div class="c-heroMetadata"><span>{year}</span></div>
{critic}
{user}
</body></html>
"""


PAGES = TitlePages(
    source=source.SPEC, share={"movie": 0.55, "tv": 0.45}, slug=source.slug,
    paths={"movie": "/movie/{slug}/", "tv": "/tv/{slug}/"}, year_suffix="-{year}", counter_suffix="-{n}",
    values=values, render=page,
    truth=lambda mc: {key: mc[key] for key in ("path", "metascore", "critic_count", "user_score", "user_count")},
    breaking=((b'"ratingValue":', b'"ratingValue":"x'),
              (b'<span data-testid="global-score-value">', b'<span data-testid="global-score-value">~')),
)
