"""DNA label normalisation: one spelling per label before anything is stored or embedded.

Models answer with surface noise (odd case, stray spaces, duplicates, "none" entries). Normalising
first means each label is stored and embedded once; what normalisation cannot see ("Dark Humour" and
"Dark Humor") is merged later by embedding proximity (``stores/dna_index.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from goodwatch_assets.models.records import DNA_CATEGORIES

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\s\-/]+")
EMPTY_LABELS = frozenset({"", "none", "n/a", "na", "-", "null", "nil", "unknown"})
SMALL_WORDS = frozenset("a an and as at but by for in into nor of on or the to vs with".split())
MAX_LABEL_LENGTH = 80


def normalise_label(label: str) -> str | None:
    """One label's canonical spelling, or None for an empty answer: spaces collapsed, title case.

    Lower-case words are capitalised (after hyphens and slashes too), except small words after the first
    ("Coming-of-Age", "Black and White"); words with a capital are kept ("DNA", "McGuffin"); a label in
    capitals throughout is recased as a whole.
    """
    text = _SPACES.sub(" ", label).strip().strip(".,;:").strip()
    if text.lower() in EMPTY_LABELS or len(text) > MAX_LABEL_LENGTH:
        return None
    if text.isupper():
        text = text.lower()

    def recased(word: re.Match[str]) -> str:
        value = word.group(0)
        if not value.islower() or (word.start() > 0 and value in SMALL_WORDS):
            return value
        return value[0].upper() + value[1:]

    return _WORD.sub(recased, text)


def normalise_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Normalised labels in answer order, empty ones and duplicates dropped."""
    seen: dict[str, None] = {}
    for label in labels:
        normal = normalise_label(label)
        if normal is not None:
            seen.setdefault(normal, None)
    return tuple(seen)


def normalise_dna(dna: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Every category's labels normalised; categories left without labels dropped."""
    normal = {category: normalise_labels(labels) for category, labels in dna.items()}
    return {category: labels for category, labels in normal.items() if labels}


def dna_text(dna: Mapping[str, Iterable[str]]) -> str:
    """A title's DNA as one text to embed: one "Category: label, label" line per category, in the order of
    ``DNA_CATEGORIES`` whatever order the mapping has (JSONB reorders keys)."""
    return "\n".join(f"{category}: {', '.join(dna[category])}" for category in DNA_CATEGORIES if dna.get(category))
