"""Safe HTML parsing and the small readers every page parser shares.

lxml is configured to resolve no entities and fetch nothing (no network, no DTD loading), so a
hostile page cannot make the parser read files or call out. Numbers are read the way the sites
print them: thousands separators (``2,172``, ``2 181 187``), decimal commas on localised pages
(``9,3``), bands (``250,000+``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from lxml import etree, html

from goodwatch_assets.errors import ParseError

_PARSER = html.HTMLParser(no_network=True, remove_comments=True, recover=True, huge_tree=False)
_DIGITS = re.compile(r"\d+")
_DECIMAL = re.compile(r"^\s*(\d{1,2})(?:[.,](\d{1,3}))?\s*$")


def parse_html(body: str | bytes) -> html.HtmlElement:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not body.strip():
        raise ParseError("empty page", body)
    try:
        return html.document_fromstring(body, parser=_PARSER)
    except (etree.ParserError, ValueError) as error:
        raise ParseError(f"not parseable as HTML: {error}", body) from error


def script_json(tree: html.HtmlElement, element_id: str) -> Any | None:
    """The JSON inside ``<script id=element_id>``; ``None`` when absent, ParseError when broken."""
    found = tree.xpath("//script[@id=$id]", id=element_id)
    if not found:
        return None
    text = (found[0].text or "").strip()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ParseError(f"script#{element_id} holds broken JSON: {error}") from error


def json_ld(tree: html.HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page (broken blocks are skipped: pages carry several)."""
    objects = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            value = orjson.loads((script.text or "").strip())
        except orjson.JSONDecodeError:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                objects.append(item)
    return objects


def text_of(tree: html.HtmlElement, xpath: str, **variables: Any) -> str | None:
    found = tree.xpath(xpath, **variables)
    if not found:
        return None
    node = found[0]
    text = node if isinstance(node, str) else node.text_content()
    return " ".join(text.split()) or None


def count(text: str | int | None) -> int | None:
    """An integer count from ``2,172``, ``2 181 187``, ``250,000+ Ratings``, ``Based on 36 Critic Reviews``."""
    if text is None or isinstance(text, int):
        return text
    digits = "".join(_DIGITS.findall(text.split("(")[0]))
    return int(digits) if digits else None


def decimal(text: str | float | int | None) -> float | None:
    """A rating like ``8.9``, ``9,3`` (decimal comma) or ``7`` as a float; ``None`` for ``tbd``/empty."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    match = _DECIMAL.match(text)
    if not match:
        return None
    return float(f"{match[1]}.{match[2] or 0}")


def percent(text: str | int | float | None) -> int | None:
    """``81``, ``"81"``, ``81%`` -> 81; empty or missing -> None (never 0)."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return int(text)
    match = re.search(r"\d{1,3}", text)
    return int(match[0]) if match else None


def year_in(text: str | None) -> int | None:
    match = re.search(r"\b(1[89]\d{2}|20\d{2})\b", text or "")
    return int(match[1]) if match else None


_RUNTIME = re.compile(r"^\s*(?:(?P<h>\d{1,2})\s*h(?:ours?|r)?)?\s*(?:(?P<m>\d{1,3})\s*m(?:in(?:utes?)?)?)?\s*$", re.I)
_ISO_DURATION = re.compile(r"^PT(?:(?P<h>\d{1,2})H)?(?:(?P<m>\d{1,3})M)?(?:\d{1,2}S)?$")


def runtime_minutes(text: str | None) -> int | None:
    """Minutes from ``2 h 32 m``, ``2h 19m``, ``152 min``, ``45m`` or ISO ``PT2H32M`` / ``PT152M``; None otherwise."""
    if not text:
        return None
    match = _ISO_DURATION.match(text.strip()) or _RUNTIME.match(text)
    if not match or not (match["h"] or match["m"]):
        return None
    minutes = 60 * int(match["h"] or 0) + int(match["m"] or 0)
    return minutes or None


def person_names(value: Any) -> tuple[str, ...]:
    """Names of JSON-LD persons (one object, a list, or plain strings); placeholders like ``NA`` left out."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip() and name.strip().upper() not in ("NA", "N/A", "UNKNOWN"):
            names.append(" ".join(name.split()))
    return tuple(dict.fromkeys(names))


def devalue_field(payload: Any, key: str) -> Any:
    """A field of a Nuxt ``__NUXT_DATA__`` payload (a flat array whose objects hold the indexes of their values):
    the value of the first object that has ``key``."""
    if not isinstance(payload, list):
        return None
    for element in payload:
        if isinstance(element, dict) and isinstance(element.get(key), int) and 0 <= element[key] < len(payload):
            return payload[element[key]]
    return None


IMDB_ID = re.compile(r"^tt\d{7,}$")
