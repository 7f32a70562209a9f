"""Metacritic pages as the replica serves them, shaped like the post-2023 (Nuxt) site.

Like ``fixtures/real/metacritic``: JSON-LD with the Metascore as a number (and no ``aggregateRating``
at all when there is no Metascore), the critic and user score blocks under
``[data-testid=critic-reviews]`` / ``[data-testid=user-reviews]``, and the trap: critic review cards
carry their own ``.c-siteReviewScore[title="Metascore N out of 100"]`` badges.
"""

from __future__ import annotations

import html

import orjson

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


def page(catalog: SyntheticCatalog, entry: CatalogEntry) -> str:
    d = catalog.details(entry)
    mc = d.metacritic
    assert mc is not None
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
