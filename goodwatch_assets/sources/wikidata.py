"""Wikidata: the ``wikidata_ids`` source — each catalog title's IMDb id and its ids on the page-finding sites, from
the Wikidata Query Service (SPARQL, results as JSON).

Titles are asked for in batches of their TMDB ids (movies ``P4947``, shows ``P4983``); each page-finding source's
spec names the property of its id (Rotten Tomatoes ``P1258``, Metacritic ``P1712``, TV Tropes ``P6839``). The
service answers a query that ran out of time with HTTP 200: part of the JSON, then a Java stack trace. So an answer
is used only when it is whole JSON of the expected shape (the variables asked, every row's item an entity IRI and
its TMDB id one that was asked), and each batch must find at least a share of the titles the previous run found
items for; another answer is asked again, then the run fails before anything is written. A Wikidata id is a
candidate page for the sources, never trusted blindly: Wikidata is sometimes stale (a renamed page) or wrong (a
franchise page, a swapped pair).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import timedelta

import orjson

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import FetchFailed, SourceClient
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.sources.spec import WEEKLY, SourceSpec

TMDB_PROPERTY = {"movie": "P4947", "tv": "P4983"}
IMDB_PROPERTY = "P345"
ENTITY_PREFIX = "http://www.wikidata.org/entity/"
"""What an item's IRI starts with in an answer (an identifier, never fetched); the item id (Q...) follows."""
BATCH_SIZE = 400
"""TMDB ids per query: a query stays well within the service's 60 s (a whole-catalog query does not)."""
MIN_SHARE_OF_PREVIOUS = 0.9
"""A batch's answer finding fewer of the titles the previous run found items for than this share is refused as short
(items are rarely deleted: a shorter answer is a degraded service, not a smaller Wikidata)."""
MIN_KNOWN = 10
"""Fewer titles known from the previous run than this in a batch: too few to judge a shortfall by."""
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")
_PROPERTY = re.compile(r"^P\d+$")


class WikidataAnswerError(ParseError):
    """An answer of the query service that cannot be used whole: nothing of it is written."""


@dataclass(frozen=True)
class WikidataIds:
    """One catalog title's item and the ids it gives, per variable asked (several values where the item has
    several: an old and a new page)."""

    tmdb_id: int
    item: str
    ids: Mapping[str, tuple[str, ...]]


def query(media: str, tmdb_ids: Sequence[int], properties: Mapping[str, str]) -> str:
    """SPARQL for the items of these TMDB ids and their values of ``properties`` (variable -> property)."""
    for variable, prop in properties.items():
        if not _VARIABLE.match(variable) or not _PROPERTY.match(prop):
            raise ValueError(f"not a SPARQL variable and Wikidata property: {variable!r} {prop!r}")
    values = " ".join(f'"{int(tmdb_id)}"' for tmdb_id in tmdb_ids)
    optionals = "\n".join(f"  OPTIONAL {{ ?item wdt:{prop} ?{variable} . }}" for variable, prop in properties.items())
    selected = " ".join(f"?{variable}" for variable in properties)
    return (f"SELECT ?item ?tmdb {selected} WHERE {{\n  VALUES ?tmdb {{ {values} }}\n"
            f"  ?item wdt:{TMDB_PROPERTY[media]} ?tmdb .\n{optionals}\n}}")


def parse_answer(body: bytes, asked: Sequence[int], variables: Sequence[str]) -> list[WikidataIds]:
    """The titles of an answer, or WikidataAnswerError when the answer is not whole or not of the expected shape."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        trace = next((line.strip() for line in body.decode("utf-8", "replace").splitlines()
                      if "Exception" in line), None)
        raise WikidataAnswerError(f"the query service's answer is not whole JSON ({trace or error}): "
                                  "a timed-out query", body[:2000]) from None
    try:
        head, bindings = answer["head"]["vars"], answer["results"]["bindings"]
    except (KeyError, TypeError):
        raise WikidataAnswerError("the answer has no head.vars and results.bindings", body[:2000]) from None
    missing = {"item", "tmdb", *variables} - set(head)
    if missing or not isinstance(bindings, list):
        raise WikidataAnswerError(f"the answer lacks the variables {sorted(missing)}", body[:2000])
    wanted = {int(i) for i in asked}
    found: dict[int, tuple[str, dict[str, list[str]]]] = {}
    for row in bindings:
        item = _value(row, "item")
        tmdb = _value(row, "tmdb")
        if item is None or not item.startswith(ENTITY_PREFIX + "Q") or tmdb is None or not tmdb.isdigit() \
                or int(tmdb) not in wanted:
            raise WikidataAnswerError(f"a row that is not an entity of an asked TMDB id: {row!r:.200}", body[:2000])
        _, ids = found.setdefault(int(tmdb), (item.removeprefix(ENTITY_PREFIX), {}))
        for variable in variables:
            value = _value(row, variable)
            if value and value not in ids.setdefault(variable, []):
                ids[variable].append(value)
    return [WikidataIds(tmdb_id, item, {v: tuple(sorted(values)) for v, values in ids.items()})
            for tmdb_id, (item, ids) in sorted(found.items())]


def _value(row: object, variable: str) -> str | None:
    cell = row.get(variable) if isinstance(row, dict) else None
    value = cell.get("value") if isinstance(cell, dict) else None
    return value if isinstance(value, str) else None


def check_batch(found: Sequence[WikidataIds], asked: Sequence[int], known: Set[int]) -> None:
    """Refuse a batch's answer that is short: it finds under ``MIN_SHARE_OF_PREVIOUS`` of the asked titles the previous
    run found items for (``known``), or, without a previous run, no item for a hundred titles or more."""
    expected = known.intersection(asked)
    again = len(expected & {title.tmdb_id for title in found})
    if len(expected) >= MIN_KNOWN and again < MIN_SHARE_OF_PREVIOUS * len(expected):
        raise WikidataAnswerError(f"a short answer: items for {again} of the {len(expected)} titles of the batch the "
                                  f"previous run found items for (at least {MIN_SHARE_OF_PREVIOUS:.0%} expected)")
    if not known and len(asked) >= 100 and not found:
        raise WikidataAnswerError(f"a short answer: no item for any of {len(asked)} titles")


async def fetch_ids(client: SourceClient, media: str, tmdb_ids: Sequence[int], properties: Mapping[str, str],
                    known: Set[int] = frozenset()) -> list[WikidataIds]:
    """Every title's ids, a batch per query (``known``: the titles the previous run found items for). A batch whose
    answer is unusable (timed out, short) is asked again, up to the site's tries; then its error goes up, before the
    caller writes anything."""
    found: list[WikidataIds] = []
    for start in range(0, len(tmdb_ids), BATCH_SIZE):
        batch = tmdb_ids[start:start + BATCH_SIZE]
        for attempt in range(1, client.policy.tries + 1):
            response = await client.request("POST", "/sparql", data={"query": query(media, batch, properties)},
                                            headers={"Accept": "application/sparql-results+json"})
            if response.status_code != 200:
                raise FetchFailed(f"{client.policy.name}: the query service answered HTTP {response.status_code}")
            try:
                answer = parse_answer(response.content, batch, list(properties))
                check_batch(answer, batch, known)
                found += answer
                break
            except WikidataAnswerError:
                if attempt == client.policy.tries:
                    raise
    return found


SITE = SitePolicy("wikidata", "https://query.wikidata.org", 0.5, concurrency=1, timeout_s=90,
                  default_cooldown=timedelta(hours=1))
"""One query at a time, one every two seconds at most; a 429 stops the run and cools the site down."""

SPEC = SourceSpec(
    name="wikidata_ids",
    description="Each catalog title's Wikidata item with its IMDb id and its ids on the page-finding sites (Rotten "
                "Tomatoes, Metacritic, TV Tropes), asked by TMDB id in batches; the sites' ids become the first "
                "candidate pages of their sources (verified like any other).",
    site=SITE,
    freshness=WEEKLY,
)
