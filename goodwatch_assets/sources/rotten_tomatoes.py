"""Rotten Tomatoes: the source's spec, where a title's page is looked for, and the page parser (every layout since 2020).

Scores are read from, in order: ``script#media-scorecard-json`` (2024–), the ``<media-scorecard>``
slots (``critics-score`` now, ``criticsScore`` in 2024), the attributes of ``<score-board>`` /
``<score-board-deprecated>`` (2021–2023), ``span.mop-ratings-wrap__percentage`` (–2020), and
JSON-LD (rating as string or number). ``window.mpscall`` (ad targeting) is never read: its
``cag[score]`` is often wrong.

Identity for verification: the title and year from the hero (``media-hero-json``), the score board's title and
info slots ("1996, Comedy, 1h 32m"), JSON-LD or the page title; the runtime from the same metadata; the directors
from JSON-LD (``NA`` is no director).
"""

from __future__ import annotations

import re
from datetime import timedelta

from goodwatch_assets.errors import MissingData, ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.queue import FetchedDocument
from goodwatch_assets.models.records import RottenTomatoesScores, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import (
    count,
    json_ld,
    parse_html,
    percent,
    person_names,
    runtime_minutes,
    script_json,
    text_of,
    year_in,
)
from goodwatch_assets.sources.page_finding import CRITIC_QUEUE, DISOWNED, find_page, replay_page
from goodwatch_assets.sources.page_matching import TitleHints, slug_keys
from goodwatch_assets.sources.spec import (
    WEEKLY,
    Column,
    Feed,
    Kept,
    PageFinding,
    Serving,
    SourceSpec,
    Sweep,
    as_percent,
)

_SCORE_ATTRIBUTE = re.compile(r"^\d{1,3}$")


def slug(title: str) -> str:
    """``Fight Club`` -> ``fight_club`` (``/m/fight_club``, ``/tv/<slug>``)."""
    return "_".join(page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """Guesses: ``/m/<slug>_<year>`` before ``/m/<slug>`` (``/tv/…`` for shows)."""
    template = "/m/{}" if media == "movie" else "/tv/{}"
    return page_matching.candidate_paths(titles, year, slug, "{slug}_{year}", (template,))


def page_keys(path: str) -> list[tuple[str, str, int | None]]:
    """``/m/<slug>`` or ``/tv/<slug>`` of a sitemap as (media, slug, year) readings."""
    kind, _, rest = path.strip("/").partition("/")
    media = {"m": "movie", "tv": "tv"}.get(kind)
    return slug_keys(media, rest, "_") if media and rest and "/" not in rest else []


def _slot(tree, *names: str) -> str | None:
    """The text of the first ``<media-scorecard>`` slot of these names (camelCase in 2024, kebab-case since)."""
    return next((t for name in names if (t := text_of(tree, "//media-scorecard//*[@slot=$name]", name=name))), None)


def _board_score(board, attribute: str, body) -> int | None:
    value = (board.get(attribute) or "").strip()
    if value and not _SCORE_ATTRIBUTE.match(value):
        raise ParseError(f"unreadable {attribute} {value!r} on the score board", body)
    return int(value) if value else None


@rejects_malformed("the Rotten Tomatoes page")
def parse_page(body: str | bytes, url: str | None = None) -> RottenTomatoesScores:
    tree = parse_html(body)
    ld = next((o for o in json_ld(tree) if o.get("@type") in ("Movie", "TVSeries", "TVSeason")), {})
    rating = ld.get("aggregateRating") or {}
    values: dict = {"url": url or ld.get("url"), "title": ld.get("name"), "year": None,
                    "directors": person_names(ld.get("director"))}
    metadata: list[str] = []

    hero = script_json(tree, "media-hero-json")
    if isinstance(hero, dict):
        content = hero.get("content") or {}
        values["title"] = content.get("title") or values["title"]
        metadata = [str(p) for p in content.get("metadataProps") or []]

    scorecard = script_json(tree, "media-scorecard-json")
    board = tree.xpath("//score-board | //score-board-deprecated")
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
            tomatometer=percent(_slot(tree, "critics-score", "criticsScore")),
            critic_count=count(_slot(tree, "critics-reviews", "criticsReviews")),
            audience_score=percent(_slot(tree, "audience-score", "audienceScore")),
            audience_count_label=_slot(tree, "audience-reviews", "audienceReviews"),
        )
    elif board:
        b = board[0]
        state = b.get("tomatometerstate")
        values.update(
            tomatometer=_board_score(b, "tomatometerscore", body), audience_score=_board_score(b, "audiencescore", body),
            critic_count=count(text_of(b, ".//*[@slot='critics-count']")),
            audience_count_label=text_of(b, ".//*[@slot='audience-count']"),
            certified=state == "certified-fresh" if state else None,
        )
        values["title"] = text_of(b, ".//*[@slot='title']") or values["title"]
        info = text_of(b, ".//*[@slot='info']")
        metadata = info.split(", ") if info else metadata
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
    elif not ld:
        raise MissingData("no Rotten Tomatoes score block or JSON-LD on the page", body)
    if values.get("tomatometer") is None and rating:
        values["tomatometer"] = percent(rating.get("ratingValue"))
        values["critic_count"] = values.get("critic_count") or count(rating.get("reviewCount") or rating.get("ratingCount"))
    values["year"] = next((year_in(p) for p in metadata if year_in(p)), None) or year_in(text_of(tree, "//title"))
    values["runtime"] = next((m for m in map(runtime_minutes, metadata) if m), None)
    if values["title"] is None:
        title = text_of(tree, "//title")
        values["title"] = title.split(" | ")[0].split(" (")[0].strip() if title else None
    return validate(RottenTomatoesScores, body, **values)


async def fetch(client, reservation, *, guessing: bool):
    """One title: its candidate pages, verified, the accepted one parsed."""
    return await find_page(client, reservation, SPEC.finding, candidate_paths, parse_page, guessing=guessing)


def replay(kept: Kept) -> FetchedDocument:
    """A quarantined title's kept page, parsed with today's parser and verified (no request)."""
    return replay_page(kept, SPEC.finding, parse_page)


SITE = SitePolicy("rotten_tomatoes", "https://www.rottentomatoes.com", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="Tomatometer and Popcornmeter with their counts, from the title's Rotten Tomatoes page (found by its "
                "Wikidata id, the sitemaps or a guessed URL; verified by directors, runtime, title and year; the "
                "confidence and evidence stored).",
    site=SITE,
    freshness=WEEKLY,
    queue=CRITIC_QUEUE,
    handle=fetch,
    replay=replay,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # The page verified before, or a Wikidata or sitemap candidate; sometimes a guess or two more.
    sweep=Sweep("15 * * * *", timedelta(hours=1), requests_per_title=1.5),
    check_ranges={"tomatometer": (0, 100), "audience_score": (0, 100), "critic_count": (0, None),
                  "audience_count": (0, None), "match_confidence": (0, 1)},
    finding=PageFinding(wikidata_property="P1258", wikidata_path=lambda identifier: f"/{identifier.strip('/')}",
                        sitemap="/sitemap.xml", slug=slug, separator="_", page_keys=page_keys,
                        guessing=True),
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
        disowned_by=DISOWNED,
    ),
)
