"""Rotten Tomatoes: the source's spec, candidate URLs for a title, and the page parser (2020, 2022 and 2026 layouts).

Scores are read from, in order: ``script#media-scorecard-json`` (2024–), the ``<media-scorecard>``
slots, ``<score-board>`` attributes (2021–2023), ``span.mop-ratings-wrap__percentage`` (–2020), and
JSON-LD (rating as string or number). ``window.mpscall`` (ad targeting) is never read: its
``cag[score]`` is often wrong.
"""

from __future__ import annotations

from datetime import timedelta

from goodwatch_assets.errors import ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.records import RottenTomatoesScores, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import count, json_ld, parse_html, percent, script_json, text_of, year_in
from goodwatch_assets.sources.page_matching import TitleHints, find_page
from goodwatch_assets.sources.spec import WEEKLY, Column, Feed, QueueSettings, Serving, SourceSpec, Sweep, as_percent


def slug(title: str) -> str:
    """``Fight Club`` -> ``fight_club`` (``/m/fight_club``, ``/tv/<slug>``)."""
    return "_".join(page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """``/m/<slug>_<year>`` before ``/m/<slug>`` (``/tv/…`` for shows)."""
    template = "/m/{}" if media == "movie" else "/tv/{}"
    return page_matching.candidate_paths(titles, year, slug, "{slug}_{year}", (template,))


@rejects_malformed("the Rotten Tomatoes page")
def parse_page(body: str | bytes, url: str | None = None) -> RottenTomatoesScores:
    tree = parse_html(body)
    ld = next((o for o in json_ld(tree) if o.get("@type") in ("Movie", "TVSeries", "TVSeason")), {})
    rating = ld.get("aggregateRating") or {}
    values: dict = {"url": url or ld.get("url"), "title": ld.get("name"), "year": None}

    hero = script_json(tree, "media-hero-json")
    if isinstance(hero, dict):
        content = hero.get("content") or {}
        values["title"] = content.get("title") or values["title"]
        values["year"] = next((year_in(p) for p in content.get("metadataProps") or [] if year_in(p)), None)

    scorecard = script_json(tree, "media-scorecard-json")
    board = tree.xpath("//score-board")
    if isinstance(scorecard, dict):
        critics, audience = scorecard.get("criticsScore") or {}, scorecard.get("audienceScore") or {}
        liked, not_liked = audience.get("likedCount"), audience.get("notLikedCount")
        values.update(
            tomatometer=percent(critics.get("score") or None), critic_count=count(critics.get("reviewCount")),
            audience_score=percent(audience.get("score") or None),
            audience_count=liked + not_liked if isinstance(liked, int) and isinstance(not_liked, int) else None,
            audience_count_label=audience.get("bandedRatingCount") or None, certified=critics.get("certified"),
        )
    elif tree.xpath("//media-scorecard"):
        values.update(
            tomatometer=percent(text_of(tree, "//media-scorecard//*[@slot='critics-score']")),
            critic_count=count(text_of(tree, "//media-scorecard//*[@slot='critics-reviews']")),
            audience_score=percent(text_of(tree, "//media-scorecard//*[@slot='audience-score']")),
            audience_count_label=text_of(tree, "//media-scorecard//*[@slot='audience-reviews']"),
        )
    elif board:
        b = board[0]
        values.update(
            tomatometer=percent(b.get("tomatometerscore") or None),
            audience_score=percent(b.get("audiencescore") or None),
            critic_count=count(text_of(b, ".//*[@slot='critics-count']")),
            audience_count_label=text_of(b, ".//*[@slot='audience-count']"),
            certified=b.get("tomatometerstate") == "certified-fresh" if b.get("tomatometerstate") else None,
        )
        values["title"] = text_of(b, ".//*[@slot='title']") or values["title"]
        values["year"] = year_in(text_of(b, ".//*[@slot='info']")) or values["year"]
    elif tree.xpath("//span[contains(@class, 'mop-ratings-wrap__percentage')]"):
        scores = [percent(s.text_content()) for s in tree.xpath("//span[contains(@class, 'mop-ratings-wrap__percentage')]")]
        audience_total = text_of(tree, "//strong[contains(@class, 'mop-ratings-wrap__text--small')]"
                                       "[contains(., 'User Ratings')]")
        values.update(
            tomatometer=scores[0], audience_score=scores[1] if len(scores) > 1 else None,
            critic_count=count(text_of(tree, "//small[contains(@class, 'mop-ratings-wrap__text--small')]")),
            audience_count=count(audience_total),
            certified=bool(tree.xpath("//span[contains(@class, 'mop-ratings-wrap__icon')][contains(@class, 'certified_fresh')]")),
        )
        values["title"] = text_of(tree, "//h1[contains(@class, 'mop-ratings-wrap__title--top')]") or values["title"]
    if values.get("tomatometer") is None and rating:
        values["tomatometer"] = percent(rating.get("ratingValue"))
        values["critic_count"] = values.get("critic_count") or count(rating.get("reviewCount") or rating.get("ratingCount"))
    if values["year"] is None:
        values["year"] = year_in(text_of(tree, "//title"))
    if values["title"] is None:
        title = text_of(tree, "//title")
        values["title"] = title.split(" | ")[0].split(" (")[0].strip() if title else None
    if not any(values.get(k) is not None for k in ("tomatometer", "audience_score", "critic_count")) \
            and not (scorecard or board or ld):
        raise ParseError("no Rotten Tomatoes score block on the page", body)
    return validate(RottenTomatoesScores, body, **values)


async def fetch(client, reservation):
    """One title: guess, verify, parse."""
    return await find_page(client, reservation, candidate_paths, parse_page)


SITE = SitePolicy("rotten_tomatoes", "https://www.rottentomatoes.com", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="Tomatometer and Popcornmeter with their counts, from the title's Rotten Tomatoes page (URL guessed, "
                "page verified by title and year, match confidence stored).",
    site=SITE,
    freshness=WEEKLY,
    queue=QueueSettings(refresh_age=timedelta(days=14), batch_size=25),
    handle=fetch,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # Guessed URLs: the year slug, the bare slug, alternative titles.
    sweep=Sweep("15 * * * *", timedelta(hours=1), requests_per_title=2.5),
    check_ranges={"tomatometer": (0, 100), "audience_score": (0, 100), "critic_count": (0, None),
                  "audience_count": (0, None), "match_confidence": (0, 1)},
    serving=Serving(
        alias="r", record_fields="url text, tomatometer int, critic_count int, audience_score int, audience_count int",
        columns=(
            Column("rotten_tomatoes_url", "rr.url"),
            Column("rotten_tomatoes_tomato_score_original", "rr.tomatometer"),
            Column("rotten_tomatoes_tomato_score_normalized_percent", as_percent("rr.tomatometer")),
            Column("rotten_tomatoes_tomato_score_review_count", "rr.critic_count"),
            Column("rotten_tomatoes_audience_score_original", "rr.audience_score"),
            Column("rotten_tomatoes_audience_score_normalized_percent", as_percent("rr.audience_score")),
            Column("rotten_tomatoes_audience_score_rating_count", "rr.audience_count"),
        ),
        user_scores=(("rotten_tomatoes_audience_score_normalized_percent", "rotten_tomatoes_audience_score_rating_count"),),
        official_scores=(("rotten_tomatoes_tomato_score_normalized_percent", "rotten_tomatoes_tomato_score_review_count"),),
    ),
)
