"""How each site turns a title into a URL path segment.

These are the sites' own conventions (as seen on their pages), used in two places: the replica
serves pages at these paths, and the URL guessers (Metacritic, Rotten Tomatoes, TV Tropes have no id
mapping) try them. A guess is never trusted on the slug alone: the page's title and year must match.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`]")


def ascii_fold(text: str) -> str:
    """Accents dropped, other non-ASCII letters removed: "Amélie" -> "Amelie", "Три" -> ""."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _words(title: str) -> list[str]:
    folded = _APOSTROPHES.sub("", ascii_fold(title).lower().replace("&", " and "))
    return [w for w in _NON_ALNUM.split(folded) if w]


def rotten_tomatoes_slug(title: str) -> str:
    """``Fight Club`` -> ``fight_club`` (``/m/fight_club``, ``/tv/<slug>``)."""
    return "_".join(_words(title))


def metacritic_slug(title: str) -> str:
    """``The Dark Knight`` -> ``the-dark-knight`` (``/movie/the-dark-knight/``)."""
    return "-".join(_words(title))


def tvtropes_name(title: str) -> str:
    """``Game of Thrones`` -> ``GameOfThrones`` (``/pmwiki/pmwiki.php/Series/GameOfThrones``)."""
    return "".join(w[:1].upper() + w[1:] for w in _words(title))
