"""TV Tropes articles as the replica serves them, with the markup of ``fixtures/real/tvtropes``.

Trope entries are top-level ``<li>`` whose first link is ``/pmwiki/pmwiki.php/Main/<Trope>``; nested
``<li>`` and links in the intro, captions and spoilers are not entries. Long TV articles list
sub-pages (``<Name>/TropesAToC``, single-letter ``<Name>/TropesA``) whose items link per-trope pages.
The intro names the year and, on most articles, the director (a ``Creator/`` link). Some articles link with
absolute URLs (``https://tvtropes.org/pmwiki/…``).
"""

from __future__ import annotations

import html
import random
import string
from typing import TYPE_CHECKING, Any

from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.title_pages import TitlePages
from goodwatch_assets.sources import tvtropes as source

if TYPE_CHECKING:
    from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog

BASE = "/pmwiki/pmwiki.php"


def _link(target: str, text: str) -> str:
    return f'<a class="twikilink" href="{BASE}/{target}" title="{BASE}/{target}">{html.escape(text)}</a>'


def _spaced(name: str) -> str:
    return "".join(" " + c if c.isupper() and i else c for i, c in enumerate(name))


def _items(tropes: list[str]) -> str:
    items = []
    for n, trope in enumerate(tropes):
        nested = ""
        if n % 4 == 1:  # a sub-bullet that links another trope: not an entry of its own
            nested = f"<ul><li> Also {_link('Main/ReversePsychology', 'reverse psychology')}.</li></ul>"
        spoiler = f' <span class="spoiler" title="you can set spoilers visible by default">{_link("Creator/SomeDirector", "the director")} cameos</span>' if n % 5 == 2 else ""
        items.append(f"<li> {_link('Main/' + trope, _spaced(trope))}: explained here.{spoiler}{nested}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _subpage_groups(tropes: list[str]) -> list[tuple[str, list[str]]]:
    """Tropes grouped by first letter into sub-pages: TropesA, TropesB, TropesCToF, ..."""
    groups: list[tuple[str, list[str]]] = []
    letters = string.ascii_uppercase
    spans = [("A", "A"), ("B", "B"), ("C", "F"), ("G", "L"), ("M", "R"), ("S", "Z")]
    for start, end in spans:
        members = [t for t in tropes if start <= t[0] <= end]
        if members:
            name = f"Tropes{start}" if start == end else f"Tropes{start}To{end}"
            groups.append((name, members))
    assert all(t[0] in letters for t in tropes)
    return groups


def _page(title: str, namespace: str, body: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>{html.escape(title)} ({namespace}) - TV Tropes</title></head><body>
<h1 itemprop="headline" class="entry-title"><strong>{namespace} / </strong>{html.escape(title)}</h1>
<div id="main-article" class="article-content retro-folders">
{body}
</div></body></html>
"""


def values(rng: random.Random, entry: CatalogEntry) -> dict[str, Any]:
    tropes = sorted(rng.sample(V.TROPES, rng.randint(5, 45)))
    # Long TV articles are split into sub-pages (Tropes A to C, ...), some named by one letter.
    return {"tropes": tropes, "subpages": entry.media == "tv" and len(tropes) > 20}


def article(catalog: SyntheticCatalog, entry: CatalogEntry, tv: dict[str, Any]) -> str:
    namespace = "Film" if entry.media == "movie" else "Series"
    kind = "film" if entry.media == "movie" else "series"
    directed = " and ".join(_link("Creator/" + "".join(c for c in name if c.isalnum()), name) for name in tv["directors"])
    intro = (
        f'<div class="acaptionright"><em>{_link("Main/TagLine", "A tagline.")}</em></div>'
        f"<p><em>{html.escape(tv['page_title'])}</em> is a {tv['page_year']} {kind}"
        f"{' directed by ' + directed if directed else ''}, "
        f"{_link('Main/TheFilmOfTheBook', 'based on')} {_link('Literature/SomeNovel', 'a novel')}.</p>"
    )
    if not tv["subpages"]:
        return _in_layout(_page(tv["page_title"], namespace, intro + f"<h2>Tropes used:</h2>{_items(tv['tropes'])}"),
                          tv["layout"])
    name = tv["path"].rsplit("/", 1)[1]
    index = []
    for subpage, members in _subpage_groups(tv["tropes"]):
        per_trope = "".join(f"<li> {_link(f'{t}/{name}', _spaced(t))}</li>" for t in members)
        index.append(f"<li> {_link(f'{name}/{subpage}', _spaced(subpage))}<ul>{per_trope}</ul></li>")
    return _in_layout(_page(tv["page_title"], namespace,
                            intro + f"<hr><h2>This series provides examples of:</h2><p></p><ul>{''.join(index)}</ul>"),
                      tv["layout"])


def _in_layout(page: str, layout: str) -> str:
    """The ``absolute`` layout links with whole URLs."""
    return page.replace(f'href="{BASE}/', f'href="https://tvtropes.org{BASE}/') if layout == "absolute" else page


def subpage(catalog: SyntheticCatalog, path: str) -> str | None:
    """A split article's sub-page: ``/pmwiki/pmwiki.php/<Name>/<Subpage>``."""
    article_name, _, subpage_name = path.removeprefix(BASE + "/").partition("/")
    owner = catalog.page_owner(PAGES.name, f"{BASE}/Series/{article_name}")
    tv = catalog.details(owner).pages.get(PAGES.name) if owner else None
    if tv is None or not tv["subpages"]:
        return None
    for name, members in _subpage_groups(tv["tropes"]):
        if name == subpage_name:
            title = f"{tv['page_title']} / {_spaced(name)}"
            return _in_layout(_page(title, "Series", f"<h2>{_spaced(name)}</h2>{_items(members)}"), tv["layout"])
    return None


PAGES = TitlePages(
    source=source.SPEC, share={"movie": 0.45, "tv": 0.55}, slug=source.slug,
    paths={"movie": BASE + "/Film/{slug}", "tv": BASE + "/Series/{slug}"}, year_suffix="{year}", counter_suffix="N{n}",
    values=values, render=article, truth=lambda tv: {"path": tv["path"], "tropes": tv["tropes"]},
    breaking=((b'id="main-article"', b'id="main-artic1e"'),), extra_page=subpage,
    layouts=(("relative", 0.85), ("absolute", 0.15)),
    wikidata_id=lambda path: path.removeprefix(BASE + "/"), wikidata_share=0.6,
)
