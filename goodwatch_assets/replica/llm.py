"""An OpenAI-compatible ``/v1/chat/completions`` that answers DNA prompts from the catalog.

The replica finds the titles a prompt asks about as JSON objects carrying ``media`` and
``tmdb_id`` in the last user message (a re-ask names only the titles asked again), and answers
``{"titles": [{"media", "tmdb_id", "dna"}]}`` with each title's DNA. Labels come back with the surface
noise real models produce (odd case, stray spaces, duplicates, "none" entries, other spellings of a
label); their normalised, merged forms are the catalog's ground truth. About one title in a hundred is
unknown to the model: it answers ``{"unknown": true}`` for it, every time (a real model's habit that
fails validation: such titles end in quarantine, and have no DNA in the ground truth).
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import SyntheticCatalog, rng_for

_OBJECT = re.compile(r"\{[^{}]*\}")


UNKNOWN_SHARE = 0.01
VARIANT_SHARE = 0.3


def unknown_to_the_model(catalog: SyntheticCatalog, entry) -> bool:
    return rng_for(catalog.seed, "llm-unknown", entry.index).random() < UNKNOWN_SHARE


def requested_titles(messages: list[dict[str, Any]]) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    asks = [m for m in messages if m.get("role", "user") == "user"]
    for message in asks[-1:]:
        content = message.get("content")
        text = content if isinstance(content, str) else orjson.dumps(content).decode()
        for match in _OBJECT.finditer(text):
            try:
                obj = orjson.loads(match.group(0))
            except orjson.JSONDecodeError:
                continue
            if obj.get("media") in ("movie", "tv") and isinstance(obj.get("tmdb_id"), int):
                key = (obj["media"], obj["tmdb_id"])
                if key not in found:
                    found.append(key)
    return found


def _noisy(label: str, rng) -> str:
    if label in V.DNA_VARIANTS and rng.random() < VARIANT_SHARE:
        label = V.DNA_VARIANTS[label]
    roll = rng.random()
    if roll < 0.1:
        return label.lower()
    if roll < 0.15:
        return f"  {label.upper()} "
    if roll < 0.2:
        return label.replace(" ", "  ")
    return label


def dna_answer(catalog: SyntheticCatalog, messages: list[dict[str, Any]]) -> dict[str, Any]:
    titles = []
    for media, tmdb_id in requested_titles(messages):
        entry = catalog.entry(media, tmdb_id)
        if entry is None:
            continue
        if unknown_to_the_model(catalog, entry):
            titles.append({"media": media, "tmdb_id": tmdb_id, "unknown": True})
            continue
        rng = rng_for(catalog.seed, "llm-noise", entry.index)
        dna = {}
        for category, labels in catalog.details(entry).dna.items():
            noisy = [_noisy(label, rng) for label in labels]
            if rng.random() < 0.1:
                noisy.append(noisy[0])  # a duplicate
            if rng.random() < 0.05:
                noisy.append(rng.choice(("none", "N/A", "")))
            dna[category] = noisy
        titles.append({"media": media, "tmdb_id": tmdb_id, "dna": dna})
    return {"titles": titles}


def completion(model: str, content: str, prompt_chars: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-replica-{abs(hash(content)) % 10**12}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(content) // 4,
                  "total_tokens": (prompt_chars + len(content)) // 4},
    }
