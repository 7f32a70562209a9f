"""One page, one title: when several catalog titles hold the same page of a site, the best claimant keeps it.

A remake and its namesake, or two same-year titles of one name, can both pass verification on a page that shows
too little to tell them apart. The page is the title's whose claim is strongest — its IMDb id agreed, then its
Wikidata item named the page, then its directors agreed, then how its title and year matched, then popularity —
and the others are marked ``duplicate``: their serving columns empty instead of showing another title's scores,
and they are looked at again after the negative cache's period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from goodwatch_assets.models.queue import FetchedDocument, Status, StoredDocument
from goodwatch_assets.sources.page_verification import TITLE_SCORES
from goodwatch_assets.stores.documents import DocumentStore


def claim_strength(document: StoredDocument) -> tuple:
    """How strongly a document's title claims its page (larger is stronger; ties go to the lower TMDB id)."""
    evidence = (document.record or {}).get("evidence") or {}
    return (evidence.get("imdb_id") is True, evidence.get("wikidata") is True, evidence.get("directors") is True,
            TITLE_SCORES.get(evidence.get("title") or "", 0.0), evidence.get("year") or 0.0,
            document.popularity or 0.0, -document.tmdb_id)


def settle_shared_pages(store: DocumentStore, source: str, stored: Iterable[FetchedDocument],
                        negative_cache: timedelta) -> int:
    """Arbitrate the pages just stored: every page held by several titles stays with its best claimant. Returns how
    many titles were marked duplicate."""
    urls = {d.source_url for d in stored if d.status is Status.OK and d.source_url}
    marked = 0
    for url, claimants in store.holders(source, urls).items():
        if len(claimants) > 1:
            best = max(claimants, key=claim_strength)
            marked += store.mark_duplicates(source, url, [c.key for c in claimants if c is not best], best.key,
                                            until=store.clock() + negative_cache)
    return marked
