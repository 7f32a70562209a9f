"""TV Tropes: the source's spec, where a title's article is looked for, and the article / sub-page parser.

A trope entry is a top-level ``<li>`` (not inside another ``<li>``) of ``#main-article`` whose first
link points at ``/pmwiki/pmwiki.php/Main/<Trope>`` (relative, or absolute on ``tvtropes.org``). Links in the
intro, captions, spoilers and nested bullets are not entries. Long articles are split: their index lists sub-pages
(``<Name>/TropesAToC``, single-letter ``<Name>/TropesA``), which hold the entries.

Identity for verification: the title and namespace from the page title, the year and the directors (``Creator/``
links) from the intro. TV Tropes publishes no sitemap and its guessed URLs cost two or three requests a title, so
guessing is off by default: articles are found through Wikidata (``P6839``) and then kept.

Replay (a quarantined title's kept page parsed again, without a request) stores an article only when it is whole: a
split article's tropes are on its sub-pages, so a verified split article, or a kept sub-page that parses today, puts
the title back in the queue for a fetch instead of storing part of its tropes as if they were all.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from goodwatch_assets.errors import MissingData, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.queue import FetchedDocument, RetryPolicy
from goodwatch_assets.models.records import TropesPage, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import parse_html, text_of, year_in
from goodwatch_assets.sources.page_finding import DISOWNED, NEGATIVE_CACHE, find_page, replay_page
from goodwatch_assets.sources.page_matching import TitleHints
from goodwatch_assets.sources.spec import (
    MONTHLY,
    Column,
    Feed,
    Kept,
    NeedsRequests,
    PageFinding,
    QueueSettings,
    RefreshAges,
    Serving,
    SourceSpec,
    Sweep,
)

BASE = "/pmwiki/pmwiki.php/"
HOSTS = ("tvtropes.org", "www.tvtropes.org")
_SUBPAGE = re.compile(r"^/pmwiki/pmwiki\.php/(\w+)/(Tropes[A-Z]\w*)$")
_TITLE = re.compile(r"^(?P<title>.*) \((?P<namespace>[A-Za-z]+)\) - TV Tropes$")
_DIRECTED_BY = re.compile(r"\b(?:directed|helmed) by\b", re.IGNORECASE)
_LIST_GAP = re.compile(r"\s*(?:,|and|&|, and)?\s*")


def slug(title: str) -> str:
    """``Game of Thrones`` -> ``GameOfThrones`` (``/pmwiki/pmwiki.php/Series/GameOfThrones``)."""
    return "".join(w[:1].upper() + w[1:] for w in page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """Guesses: ``Film/<Name><Year>`` before ``Film/<Name>``; shows in the namespaces TV articles live in."""
    namespaces = ("Film",) if media == "movie" else ("Series", "WesternAnimation", "Anime")
    return page_matching.candidate_paths(titles, year, slug, "{slug}{year}",
                                         tuple(f"{BASE}{namespace}/{{}}" for namespace in namespaces))


def _href(link) -> str | None:
    """A link's target as a path on the site: relative as it is, absolute only on TV Tropes' own hosts."""
    href = link.get("href")
    if not href or "://" not in href:
        return href
    parts = urlsplit(href)
    return parts.path if parts.hostname in HOSTS else None


def _first_link(li) -> str | None:
    """The target of the item's first link, if that link is the item's own (not in a nested bullet)."""
    link = next(li.iter("a"), None)
    if link is None or link.xpath("ancestor::li[1]")[0] is not li:
        return None
    return _href(link)


@rejects_malformed("the TV Tropes article")
def parse_article(body: str | bytes, url: str | None = None) -> TropesPage:
    tree = parse_html(body)
    article = tree.xpath("//*[@id='main-article']")
    if not article:
        raise MissingData("no #main-article on the page", body)
    main = article[0]
    tropes: list[str] = []
    subpages: list[str] = []
    for li in main.xpath(".//li[not(ancestor::li)]"):
        href = _first_link(li) or ""
        if href.startswith(BASE + "Main/"):
            name = href[len(BASE + "Main/"):]
            if name not in tropes:
                tropes.append(name)
        elif match := _SUBPAGE.match(href):
            subpages.append(f"{match[1]}/{match[2]}")
    title_text = text_of(tree, "//title") or ""
    match = _TITLE.match(title_text)
    heading = text_of(tree, "//h1")
    title = match["title"] if match else (heading.split(" / ", 1)[-1] if heading else None)
    namespace = match["namespace"] if match else None
    intro = main.xpath("./p[following-sibling::h2]")[:6]
    return validate(TropesPage, body, url=url, title=title, namespace=namespace,
                    year=year_in(" ".join(p.text_content() for p in intro)),
                    directors=next((d for d in map(_directors, intro) if d), ()),
                    tropes=tuple(tropes), subpages=tuple(subpages))


def _directors(paragraph) -> tuple[str, ...]:
    """The ``Creator/`` links right after "directed by" in an intro paragraph ("directed by A and B, based on the
    novel by C": A and B)."""
    text = " ".join(paragraph.text_content().split())
    phrase = _DIRECTED_BY.search(text)
    if phrase is None:
        return ()
    names, position = [], phrase.end()
    for link in paragraph.iter("a"):
        if not (_href(link) or "").startswith(BASE + "Creator/"):
            continue
        name = " ".join(link.text_content().split())
        at = text.find(name, position)
        if at < 0:
            continue
        if not _LIST_GAP.fullmatch(text[position:at]):
            break
        names.append(name)
        position = at + len(name)
    return tuple(names)


async def _with_subpages(client, page: TropesPage) -> TropesPage:
    """A split article's tropes live on its sub-pages: fetch each and collect them."""
    tropes = list(page.tropes)
    for subpage in page.subpages:
        part = await client.get_part(BASE + subpage, parse_article)
        if part is not None:
            tropes += [t for t in part.tropes if t not in tropes]
    return page.model_copy(update={"tropes": tuple(tropes)})


async def fetch(client, reservation, *, guessing: bool):
    """One title: its candidate articles, verified, the accepted one parsed with its sub-pages."""
    return await find_page(client, reservation, SPEC.finding, candidate_paths, parse_article, guessing=guessing,
                           complete=_with_subpages)


def replay(kept: Kept) -> FetchedDocument:
    """A quarantined title's kept article, parsed with today's parser and verified (no request); a split article, or
    a kept sub-page that parses today, needs a fetch (NeedsRequests)."""
    if kept.path and _SUBPAGE.match(kept.path):
        parse_article(kept.body, kept.url)  # still unusable: the title stays quarantined with today's reason
        raise NeedsRequests("the kept sub-page parses today; its article and the other sub-pages need requests")
    return replay_page(kept, SPEC.finding, parse_article, complete=_whole)


def _whole(page: TropesPage) -> TropesPage:
    """The article, when its tropes are all on it."""
    if page.subpages:
        raise NeedsRequests(f"the article is split into {len(page.subpages)} sub-pages, which only a fetch reads")
    return page


SITE = SitePolicy("tvtropes", "https://tvtropes.org", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="The tropes of the title's TV Tropes article, sub-pages followed (found by its Wikidata id, or a "
                "guessed URL where guessing is on; verified by directors, title and year).",
    site=SITE,
    freshness=MONTHLY,
    queue=QueueSettings(
        refresh_age=timedelta(days=365), batch_size=25,
        refresh_ages=RefreshAges(airing_show=timedelta(days=60), other_show=timedelta(days=365),
                                 recent_movie=timedelta(days=30), other_movie=timedelta(days=365)),
        retry=RetryPolicy(base_delay=timedelta(days=1)), negative_cache=NEGATIVE_CACHE,
    ),
    handle=fetch,
    replay=replay,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # The article verified before or its Wikidata candidate, and the sub-pages of split articles.
    sweep=Sweep("20 * * * *", timedelta(hours=1), requests_per_title=2),
    check_ranges={"match_confidence": (0, 1)},
    finding=PageFinding(wikidata_property="P6839", wikidata_path=lambda identifier: BASE + identifier.strip("/"),
                        guessing=False),
    serving=Serving(alias="t", record_fields="tropes text[]", columns=(Column("trope_names", "tr.tropes", array=True),),
                    disowned_by=DISOWNED),
)
