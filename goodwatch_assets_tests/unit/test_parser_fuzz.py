"""Every parser, fed mutations of the real recorded pages and responses: it returns a record or raises the
project's ParseError, nothing else (no IndexError, no lxml or polars error, no hang)."""

from __future__ import annotations

import gzip
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodwatch_assets.errors import ParseError
from goodwatch_assets.models.records import Record
from goodwatch_assets.sources import imdb, metacritic, rotten_tomatoes, tmdb, tvtropes
from goodwatch_assets_tests.helpers import SHARED_FIXTURES as REAL

pytestmark = pytest.mark.skipif(not REAL.exists(), reason="../shared/fixtures/real is not beside the project")


def body_of(path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


def tmdb_parser(path):
    media = "tv" if "tv" in path.name.split("_")[-1] or "shows" in path.name or "_tv_" in path.name else "movie"
    return lambda body: tmdb.parse_details(body, media)


def parsers() -> list[tuple[str, object, bytes]]:
    """(fixture, parser, body) for every real fixture a parser reads."""
    cases = []
    for folder, parse in (("rottentomatoes", rotten_tomatoes.parse_page), ("metacritic", metacritic.parse_page),
                        ("tvtropes", tvtropes.parse_article)):
        cases += [(p.name, parse, body_of(p)) for p in sorted((REAL / folder).glob("*")) if p.suffix in (".html", ".gz")]
    for p in sorted((REAL / "imdb_pages").glob("*")):
        cases.append((p.name, imdb.parse_next_data_json if "NEXT_DATA" in p.name else imdb.parse_title_page, body_of(p)))
    cases += [(p.name, tmdb_parser(p), body_of(p)) for p in sorted((REAL / "tmdb").glob("*.json"))
              if any(part in p.name for part in ("details", "appends", "_movie_", "_tv_"))]
    for p in sorted((REAL / "imdb_datasets").glob("*.tsv")):
        reader = imdb.read_ratings if "ratings" in p.name else imdb.read_basics if "basics" in p.name else None
        if reader is not None:
            cases.append((p.name, lambda body, read=reader: read(io.BytesIO(body)), body_of(p)[:200_000]))
    return cases


CASES = parsers() if REAL.exists() else []
MUTATIONS = st.lists(st.tuples(st.sampled_from(["truncate", "delete", "insert", "replace", "duplicate"]),
                               st.floats(0, 1), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
                     min_size=1, max_size=6)


def mutate(body: bytes, mutations) -> bytes:
    for kind, where, length, junk in mutations:
        at = int(where * len(body))
        span = int(length * min(len(body) - at, 4_000))
        if kind == "truncate":
            body = body[:at]
        elif kind == "delete":
            body = body[:at] + body[at + span:]
        elif kind == "insert":
            body = body[:at] + junk + body[at:]
        elif kind == "replace":
            body = body[:at] + junk + body[at + len(junk):]
        else:
            body = body[:at + span] + body[at:]
    return body


def outcome(parse, body: bytes) -> str:
    try:
        result = parse(body)
    except ParseError:
        return "rejected"
    assert result is not None
    assert isinstance(result, Record) or hasattr(result, "height"), type(result)  # a record, or a dataset frame
    return "parsed"


def test_every_fixture_kind_is_fuzzed():
    names = " ".join(name for name, _, _ in CASES)
    for kind in ("_m_", "_movie_the_dark_knight_jsonld", "Film_", "legacy_era", "NEXT_DATA", "details", "ratings", "basics"):
        assert kind in names, kind
    assert len(CASES) >= 25


@settings(max_examples=int(os.environ.get("GOODWATCH_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=st.sampled_from(CASES), mutations=MUTATIONS)
def test_a_mutated_real_page_parses_or_raises_the_parse_error(case, mutations):
    _, parse, body = case
    outcome(parse, mutate(body, mutations))


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 100, b"<html>", b"{", b"[]", b"null", "é".encode("latin-1"),
                                     b"\xff\xfe<\x00h\x00", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;"])
def test_garbage_is_rejected_by_every_parser(garbage):
    seen = set()
    for name, parse, _ in CASES:
        if parse in seen:
            continue
        seen.add(parse)
        assert outcome(parse, garbage) == "rejected", (name, garbage)
