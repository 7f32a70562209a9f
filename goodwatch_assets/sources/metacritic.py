"""Metacritic: the source's spec, candidate URLs for a title, and the page parser (the post-2023 layout).

The Metascore comes from JSON-LD (a number) or the critic score block
``[data-testid=critic-reviews] … [data-testid=global-score-value]``, never from
``.c-siteReviewScore`` badges: those are single critics' scores on review cards. A page without a
Metascore yields ``None``, not 0; ``tbd`` likewise.
"""

from __future__ import annotations

from datetime import timedelta

from goodwatch_assets.errors import ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.records import MetacriticScores, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import count, decimal, json_ld, parse_html, percent, text_of, year_in
from goodwatch_assets.sources.page_matching import TitleHints, find_page
from goodwatch_assets.sources.spec import WEEKLY, Column, Feed, QueueSettings, Serving, SourceSpec, Sweep, as_percent

_BLOCK = "//*[@data-testid=$block]//*[@data-testid='global-score-wrapper']"


def slug(title: str) -> str:
    """``The Dark Knight`` -> ``the-dark-knight`` (``/movie/the-dark-knight/``)."""
    return "-".join(page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """``/movie/<slug>-<year>/`` before ``/movie/<slug>/`` (``/tv/…`` for shows)."""
    template = "/movie/{}/" if media == "movie" else "/tv/{}/"
    return page_matching.candidate_paths(titles, year, slug, "{slug}-{year}", (template,))


def _score_block(tree, block: str) -> tuple[str | None, str | None]:
    wrapper = tree.xpath(_BLOCK, block=block)
    if not wrapper:
        return None, None
    value = text_of(wrapper[0], ".//*[@data-testid='global-score-value']")
    reviews = text_of(wrapper[0], ".//*[@data-testid='global-score-review-count']")
    return value, reviews


def _is_rating(text: str) -> bool:
    return decimal(text) is not None


@rejects_malformed("the Metacritic page")
def parse_page(body: str | bytes, url: str | None = None) -> MetacriticScores:
    tree = parse_html(body)
    ld = next((o for o in json_ld(tree) if o.get("@type") in ("Movie", "TVSeries", "TVSeason")), {})
    rating = ld.get("aggregateRating") or {}
    critic_value, critic_reviews = _score_block(tree, "critic-reviews")
    user_value, user_reviews = _score_block(tree, "user-reviews")
    if not ld and critic_value is None and user_value is None:
        raise ParseError("no Metacritic score block or JSON-LD on the page", body)
    for label, value, readable in (("Metascore", critic_value, str.isdigit), ("user score", user_value, _is_rating)):
        if value is not None and value != "tbd" and not readable(value):
            raise ParseError(f"unreadable {label} {value!r}", body)
    metascore = percent(rating.get("ratingValue")) if rating else None
    if metascore is None and critic_value and critic_value.isdigit():
        metascore = int(critic_value)
    critic_count = count(rating.get("reviewCount")) if rating else None
    if critic_count is None and metascore is not None:
        critic_count = count(critic_reviews)
    user_score = decimal(user_value)
    return validate(
        MetacriticScores, body,
        url=url or ld.get("url"),
        title=ld.get("name") or text_of(tree, "//*[@data-testid='hero-title']//h1"),
        year=year_in(ld.get("datePublished")) or year_in(text_of(tree, "//*[contains(@class, 'c-heroMetadata')]")),
        metascore=metascore, critic_count=critic_count,
        user_score=user_score, user_count=count(user_reviews) if user_score is not None else None,
    )


async def fetch(client, reservation):
    """One title: guess, verify, parse."""
    return await find_page(client, reservation, candidate_paths, parse_page)


SITE = SitePolicy("metacritic", "https://www.metacritic.com", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="Metascore and user score with their counts, from the title's Metacritic page (URL guessed, page "
                "verified by title and year, match confidence stored).",
    site=SITE,
    freshness=WEEKLY,
    queue=QueueSettings(refresh_age=timedelta(days=14), batch_size=25),
    handle=fetch,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # Guessed URLs: the year slug, the bare slug, alternative titles.
    sweep=Sweep("10 * * * *", timedelta(hours=1), requests_per_title=2.5),
    check_ranges={"metascore": (0, 100), "critic_count": (0, None), "user_score": (0, 10), "user_count": (0, None),
                  "match_confidence": (0, 1)},
    serving=Serving(
        alias="m", record_fields="url text, metascore int, critic_count int, user_score real, user_count int",
        columns=(
            Column("metacritic_url", "mr.url"),
            Column("metacritic_meta_score_original", "mr.metascore"),
            Column("metacritic_meta_score_normalized_percent", as_percent("mr.metascore")),
            Column("metacritic_meta_score_review_count", "mr.critic_count"),
            Column("metacritic_user_score_original", "mr.user_score"),
            Column("metacritic_user_score_normalized_percent", as_percent("mr.user_score", 10)),
            Column("metacritic_user_score_rating_count", "mr.user_count"),
        ),
        user_scores=(("metacritic_user_score_normalized_percent", "metacritic_user_score_rating_count"),),
        official_scores=(("metacritic_meta_score_normalized_percent", "metacritic_meta_score_review_count"),),
    ),
)
