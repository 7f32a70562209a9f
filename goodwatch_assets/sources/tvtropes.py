"""TV Tropes: the source's spec, candidate article URLs, and the article / sub-page parser.

A trope entry is a top-level ``<li>`` (not inside another ``<li>``) of ``#main-article`` whose first
link points at ``/pmwiki/pmwiki.php/Main/<Trope>``. Links in the intro, captions, spoilers and
nested bullets are not entries. Long articles are split: their index lists sub-pages
(``<Name>/TropesAToC``, single-letter ``<Name>/TropesA``), which hold the entries.
"""

from __future__ import annotations

import re
from datetime import timedelta

from goodwatch_assets.errors import ParseError, rejects_malformed
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.records import TropesPage, validate
from goodwatch_assets.sources import page_matching, tmdb
from goodwatch_assets.sources.markup import parse_html, text_of, year_in
from goodwatch_assets.sources.page_matching import TitleHints, find_page
from goodwatch_assets.sources.spec import MONTHLY, Column, Feed, QueueSettings, Serving, SourceSpec, Sweep

BASE = "/pmwiki/pmwiki.php/"
_SUBPAGE = re.compile(r"^/pmwiki/pmwiki\.php/(\w+)/(Tropes[A-Z]\w*)$")
_TITLE = re.compile(r"^(?P<title>.*) \((?P<namespace>[A-Za-z]+)\) - TV Tropes$")


def slug(title: str) -> str:
    """``Game of Thrones`` -> ``GameOfThrones`` (``/pmwiki/pmwiki.php/Series/GameOfThrones``)."""
    return "".join(w[:1].upper() + w[1:] for w in page_matching.title_words(title))


def candidate_paths(media: str, titles: list[str], year: int | None) -> list[str]:
    """``Film/<Name><Year>`` before ``Film/<Name>``; shows in the namespaces TV articles live in."""
    namespaces = ("Film",) if media == "movie" else ("Series", "WesternAnimation", "Anime")
    return page_matching.candidate_paths(titles, year, slug, "{slug}{year}",
                                    tuple(f"{BASE}{namespace}/{{}}" for namespace in namespaces))


def _first_link(li) -> str | None:
    """The href of the item's first link, if that link is the item's own (not in a nested bullet)."""
    link = next(li.iter("a"), None)
    if link is None or link.xpath("ancestor::li[1]")[0] is not li:
        return None
    return link.get("href")


@rejects_malformed("the TV Tropes article")
def parse_article(body: str | bytes, url: str | None = None) -> TropesPage:
    tree = parse_html(body)
    article = tree.xpath("//*[@id='main-article']")
    if not article:
        raise ParseError("no #main-article on the page", body)
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
    intro = " ".join(p.text_content() for p in main.xpath("./p[following-sibling::h2]")[:6])
    return validate(TropesPage, body, url=url, title=title, namespace=namespace, year=year_in(intro),
                    tropes=tuple(tropes), subpages=tuple(subpages))


async def _with_subpages(client, page: TropesPage) -> TropesPage:
    """A split article's tropes live on its sub-pages: fetch each and collect them."""
    tropes = list(page.tropes)
    for subpage in page.subpages:
        part = await client.get_part(BASE + subpage, parse_article)
        if part is not None:
            tropes += [t for t in part.tropes if t not in tropes]
    return page.model_copy(update={"tropes": tuple(tropes)})


async def fetch(client, reservation):
    """One title: guess, verify, parse, follow sub-pages."""
    return await find_page(client, reservation, candidate_paths, parse_article, complete=_with_subpages)


SITE = SitePolicy("tvtropes", "https://tvtropes.org", 0.5, concurrency=2, rate_limit_statuses=(403, 429))
"""The site answers too many requests with 403 as often as with 429."""

SPEC = SourceSpec(
    name=SITE.name,
    description="The tropes of the title's TV Tropes article, sub-pages followed (URL guessed, page verified).",
    site=SITE,
    freshness=MONTHLY,
    queue=QueueSettings(refresh_age=timedelta(days=60), batch_size=25),
    handle=fetch,
    fed_by=Feed(tmdb.SPEC.name, hints=TitleHints.for_queue),
    # Guessed URLs, and the sub-pages of split articles.
    sweep=Sweep("20 * * * *", timedelta(hours=1), requests_per_title=3),
    check_ranges={"match_confidence": (0, 1)},
    serving=Serving(alias="t", record_fields="tropes text[]", columns=(Column("trope_names", "tr.tropes", array=True),)),
)
