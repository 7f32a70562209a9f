"""Metacritic: the source's spec, where a title's page is looked for, and the page parser (the post-2023 layout and
the older microdata one).

The Metascore comes from JSON-LD (a number) or the critic score block
``[data-testid=critic-reviews] … [data-testid=global-score-value]``, never from
``.c-siteReviewScore`` badges: those are single critics' scores on review cards. A page without a
Metascore yields ``None``, not 0; ``tbd`` likewise. Pages not rebuilt since the 2023 redesign carry schema.org
microdata only (``itemprop`` name, datePublished, director, duration, ratingValue, reviewCount; the user score in
``.metascore_w.user``).

Identity for verification: JSON-LD or microdata name, year and directors; the runtime from the hero's metadata
(``2 h 32 m``) or microdata ``duration``, never from JSON-LD ``duration`` (the trailer's); the IMDb id from the
``__NUXT_DATA__`` payload.
"""

from __future__ import annotations

from datetime import timedelta

from goodwatch_assets.errors import MissingData, ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.queue import FetchedDocument
from goodwatch_assets.models.records import MetacriticScores, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import (
    IMDB_ID,
    count,
    decimal,
    devalue_field,
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

_BLOCK = "//*[@data-testid=$block]//*[@data-testid='global-score-wrapper']"


def slug(title: str) -> str:
    """``The Dark Knight`` -> ``the-dark-knight`` (``/movie/the-dark-knight/``)."""
    return "-".join(page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """Guesses: ``/movie/<slug>-<year>/`` before ``/movie/<slug>/`` (``/tv/…`` for shows)."""
    template = "/movie/{}/" if media == "movie" else "/tv/{}/"
    return page_matching.candidate_paths(titles, year, slug, "{slug}-{year}", (template,))


def page_keys(path: str) -> list[tuple[str, str, int | None]]:
    """``/movie/<slug>/`` of a sitemap as (media, slug, year) readings."""
    kind, _, rest = path.strip("/").partition("/")
    media = {"movie": "movie", "tv": "tv"}.get(kind)
    return slug_keys(media, rest, "-") if media and rest and "/" not in rest else []


def _score_block(tree, block: str) -> tuple[str | None, str | None]:
    wrapper = tree.xpath(_BLOCK, block=block)
    if not wrapper:
        return None, None
    value = text_of(wrapper[0], ".//*[@data-testid='global-score-value']")
    reviews = text_of(wrapper[0], ".//*[@data-testid='global-score-review-count']")
    return value, reviews


def _is_rating(text: str) -> bool:
    return decimal(text) is not None


def _microdata(tree) -> dict | None:
    """The pre-2023 layout's values, when the page is marked up with schema.org microdata."""
    scope = tree.xpath("//*[@itemscope][contains(@itemtype, 'schema.org/Movie') or contains(@itemtype, "
                       "'schema.org/TVSeries') or contains(@itemtype, 'schema.org/TVSeason')]")
    if not scope:
        return None
    root = scope[0]
    badge = ".//*[contains(concat(' ', @class, ' '), ' metascore_w ')]"
    metascore = text_of(root, ".//*[@itemprop='aggregateRating']//*[@itemprop='ratingValue']") or text_of(
        root, badge + "[not(contains(concat(' ', @class, ' '), ' user '))]")
    user = text_of(root, badge + "[contains(concat(' ', @class, ' '), ' user ')]")
    duration = root.xpath(".//*[@itemprop='duration']")
    return {
        "title": text_of(root, ".//*[@itemprop='name'][not(ancestor::*[@itemprop='director'])]"),
        "year": year_in(text_of(root, ".//*[@itemprop='datePublished']")),
        "directors": person_names(
            [text_of(d, ".//*[@itemprop='name']") or text_of(d, ".") for d in root.xpath(".//*[@itemprop='director']")]),
        "runtime": runtime_minutes(duration[0].get("content") or duration[0].text_content()) if duration else None,
        "metascore": metascore, "critic_reviews": text_of(root, ".//*[@itemprop='reviewCount']"),
        "user": user, "user_reviews": text_of(root, ".//*[contains(@class, 'user_summary')]//*[@class='count']"),
    }


@rejects_malformed("the Metacritic page")
def parse_page(body: str | bytes, url: str | None = None) -> MetacriticScores:
    tree = parse_html(body)
    ld = next((o for o in json_ld(tree) if o.get("@type") in ("Movie", "TVSeries", "TVSeason")), {})
    rating = ld.get("aggregateRating") or {}
    critic_value, critic_reviews = _score_block(tree, "critic-reviews")
    user_value, user_reviews = _score_block(tree, "user-reviews")
    micro = None if ld or critic_value or user_value else _microdata(tree)
    if micro:
        critic_value, critic_reviews, user_value, user_reviews = (
            micro["metascore"], micro["critic_reviews"], micro["user"], micro["user_reviews"])
    if not ld and critic_value is None and user_value is None and not micro:
        raise MissingData("no Metacritic score block, JSON-LD or microdata on the page", body)
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
    hero = [text_of(item, ".") for item in tree.xpath("//*[contains(@class, 'c-heroMetadata')]//li")]
    imdb_id = devalue_field(script_json(tree, "__NUXT_DATA__"), "imdbId")
    identity = micro or {
        "title": ld.get("name") or text_of(tree, "//*[@data-testid='hero-title']//h1"),
        "year": year_in(ld.get("datePublished")) or year_in(text_of(tree, "//*[contains(@class, 'c-heroMetadata')]")),
        "directors": person_names(ld.get("director")),
        "runtime": next((m for m in map(runtime_minutes, hero) if m), None),
    }
    return validate(
        MetacriticScores, body,
        url=url or ld.get("url"), title=identity["title"], year=identity["year"], directors=identity["directors"],
        runtime=identity["runtime"], imdb_id=imdb_id if isinstance(imdb_id, str) and IMDB_ID.match(imdb_id) else None,
        metascore=metascore, critic_count=critic_count,
        user_score=user_score, user_count=count(user_reviews) if user_score is not None else None,
    )


async def fetch(client, reservation, *, guessing: bool):
    """One title: its candidate pages, verified, the accepted one parsed."""
    return await find_page(client, reservation, SPEC.finding, candidate_paths, parse_page, guessing=guessing)


def replay(kept: Kept) -> FetchedDocument:
    """A quarantined title's kept page, parsed with today's parser and verified (no request)."""
    return replay_page(kept, SPEC.finding, parse_page)


SITE = SitePolicy("metacritic", "https://www.metacritic.com", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="Metascore and user score with their counts, from the title's Metacritic page (found by its Wikidata "
                "id, the sitemaps or a guessed URL; verified by IMDb id, directors, runtime, title and year; the "
                "confidence and evidence stored).",
    site=SITE,
    freshness=WEEKLY,
    queue=CRITIC_QUEUE,
    handle=fetch,
    replay=replay,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # The page verified before, or a Wikidata or sitemap candidate; sometimes a guess or two more.
    sweep=Sweep("10 * * * *", timedelta(hours=1), requests_per_title=1.5),
    check_ranges={"metascore": (0, 100), "critic_count": (0, None), "user_score": (0, 10), "user_count": (0, None),
                  "match_confidence": (0, 1)},
    finding=PageFinding(wikidata_property="P1712", wikidata_path=lambda identifier: f"/{identifier.strip('/')}/",
                        sitemap="/sitemap.xml", slug=slug, separator="-", page_keys=page_keys,
                        guessing=True),
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
        disowned_by=DISOWNED,
    ),
)
