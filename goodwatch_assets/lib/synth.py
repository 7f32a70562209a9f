"""A synthetic catalog written straight into the document store (no HTTP): the scale tests' input.

``goodwatch synth --movies N --shows M --links L`` stores, for N movies and M TV shows, what the sources would
have stored: TMDB details (with about L streaming offers in all), IMDb ratings (for titles with an IMDb id),
Metacritic and Rotten Tomatoes scores and TV Tropes tropes (each for a share of titles), as canonical records
(the payload is the record itself). DNA is not synthesised: ``benchmarks/dna.py`` measures DNA at scale.

Values are drawn with numpy and turned into JSON by polars, a chunk of titles at a time, so a million titles
take seconds to make and memory stays bounded by the chunk. They are deterministic for a seed; revision ``r``
changes a share of titles (vote count, audience score, one streaming offer more or fewer) and writes only
those: the input of an incremental combine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from goodwatch_assets.models.queue import Status
from goodwatch_assets.replica.vocabulary import (
    ADJECTIVES,
    CERTIFICATIONS,
    COUNTRIES,
    KEYWORDS,
    MOVIE_GENRES,
    NOUNS,
    OFFER_TYPES,
    PEOPLE,
    PROVIDERS,
    TROPES,
    TV_GENRES,
    TV_RATINGS,
)
from goodwatch_assets.sources import imdb, metacritic, rotten_tomatoes, tmdb, tvtropes
from goodwatch_assets.stores.documents import DocumentStore

CHUNK_TITLES = 50_000
SHARES = {imdb.SPEC.name: 0.92, metacritic.SPEC.name: 0.55, rotten_tomatoes.SPEC.name: 0.75, tvtropes.SPEC.name: 0.4}
"""Share of titles each source has data for (TMDB details: every title)."""
_OFFER_KINDS = len(COUNTRIES) * len(PROVIDERS) * len(OFFER_TYPES)
_OFFER_STRIDE = 77  # coprime with the number of offer kinds: a title's offers are distinct kinds


@dataclass
class SynthReport:
    titles: dict[str, int] = field(default_factory=dict)  # media -> titles written
    documents: dict[str, int] = field(default_factory=dict)  # source -> documents written
    offers: int = 0


def synthesize(store: DocumentStore, *, movies: int, shows: int, links: int, seed: int = 1, revision: int = 0,
               changed_share: float = 0.01, chunk_titles: int = CHUNK_TITLES,
               on_chunk: Callable[[SynthReport, int], None] | None = None) -> SynthReport:
    """Write the catalog (revision 0), or the titles that revision ``revision`` changes (``changed_share`` of
    them). ``on_chunk`` is shown the report and how many of the ``movies + shows`` titles were gone through, after each
    chunk is stored."""
    report = SynthReport()
    through = 0
    offers_per_title = links / max(movies + shows, 1)
    for media, count in (("movie", movies), ("tv", shows)):
        report.titles[media] = 0
        for start in range(1, count + 1, chunk_titles):
            frames = catalog_chunk(media, start, min(start + chunk_titles, count + 1), seed=seed,
                                   offers_per_title=offers_per_title, revision=revision, changed_share=changed_share)
            report.titles[media] += frames[tmdb.SPEC.name].height
            report.offers += int(frames.pop("offer_count"))
            for source, frame in frames.items():
                store.upsert_frame(source, frame)
                report.documents[source] = report.documents.get(source, 0) + frame.height
            through += min(chunk_titles, count + 1 - start)
            if on_chunk is not None:
                on_chunk(report, through)
    return report


def changed_mask(ids: np.ndarray, seed: int, revision: int, share: float) -> np.ndarray:
    """Which titles revision ``revision`` changes (all of them for revision 0)."""
    if revision == 0:
        return np.ones(len(ids), dtype=bool)
    mixed = (ids.astype(np.uint64) * np.uint64(2654435761) + np.uint64(seed * 7919 + revision * 104729)) % np.uint64(10_000)
    return mixed < np.uint64(round(share * 10_000))


def catalog_chunk(media: str, start: int, stop: int, *, seed: int, offers_per_title: float, revision: int = 0,
                  changed_share: float = 0.01) -> dict:
    """Document frames (per source) of tmdb ids ``start`` to ``stop - 1``, and ``offer_count``."""
    rng = np.random.default_rng([seed, 0 if media == "movie" else 1, start])
    ids = np.arange(start, stop, dtype=np.int64)
    n = len(ids)
    genres = MOVIE_GENRES if media == "movie" else TV_GENRES
    year = rng.integers(1920, 2027, n)
    vote_count = rng.integers(0, 20_000, n)
    audience = rng.integers(10, 100, n)
    offer_counts = np.minimum(rng.poisson(offers_per_title, n), _OFFER_KINDS)
    offer_base = rng.integers(0, _OFFER_KINDS, n)
    titles = pl.DataFrame({
        "tmdb_id": ids,
        "title": [f"{ADJECTIVES[a]} {NOUNS[b]}" for a, b in zip(rng.integers(0, len(ADJECTIVES), n),
                                                                 rng.integers(0, len(NOUNS), n), strict=True)],
        "year": year,
        "release_date": [f"{y}-{m:02d}-{d:02d}" for y, m, d in zip(year, rng.integers(1, 13, n),
                                                                   rng.integers(1, 29, n), strict=True)],
        "runtime": rng.integers(70, 180, n) if media == "movie" else rng.integers(20, 60, n),
        "popularity": np.round(rng.pareto(1.5, n) * 2 + 0.1, 3),
        "vote_average": np.round(rng.uniform(1, 10, n), 1),
        "vote_count": vote_count,
        "has_imdb": rng.random(n) < SHARES[imdb.SPEC.name],
        "imdb_rating": np.round(rng.uniform(1, 10, n), 1),
        "imdb_votes": rng.integers(5, 2_000_000, n),
        "genre_a": rng.integers(0, len(genres), n), "genre_b": rng.integers(0, len(genres), n),
        "keyword": rng.integers(0, len(KEYWORDS), n),
        "person": rng.integers(0, len(PEOPLE), n),
        "certification": rng.integers(0, len(CERTIFICATIONS if media == "movie" else TV_RATINGS), n),
        "has_metacritic": rng.random(n) < SHARES[metacritic.SPEC.name],
        "metascore": rng.integers(1, 101, n), "critic_count": rng.integers(1, 60, n),
        "user_score": np.round(rng.uniform(0, 10, n), 1), "user_count": rng.integers(1, 5_000, n),
        "has_rotten_tomatoes": rng.random(n) < SHARES[rotten_tomatoes.SPEC.name],
        "tomatometer": rng.integers(0, 101, n), "rt_critics": rng.integers(5, 400, n),
        "audience": audience, "rt_audience_count": rng.integers(50, 250_000, n),
        "has_tvtropes": rng.random(n) < SHARES[tvtropes.SPEC.name],
        "trope": rng.integers(0, len(TROPES), n), "trope_count": rng.integers(3, 12, n),
        "seasons": rng.integers(1, 12, n), "episodes": rng.integers(6, 200, n),
    })
    changed = changed_mask(ids, seed, revision, changed_share)
    if revision:
        titles = titles.with_columns(
            vote_count=pl.col("vote_count") + revision,
            audience=(pl.col("audience") + revision) % 101,
        ).filter(pl.Series(changed))
        offer_counts = np.maximum(offer_counts[changed] + (1 if revision % 2 else -1), 0)
        offer_base = offer_base[changed]
    offers = _offers(media, titles["tmdb_id"].to_numpy(), offer_counts, offer_base)
    details = titles.join(offers, on="tmdb_id", how="left").with_columns(pl.col("offers").fill_null([]))
    return {
        tmdb.SPEC.name: _documents(media, details, _details_record(media, genres)),
        imdb.SPEC.name: _documents(media, titles.filter("has_imdb"), pl.struct(
            imdb_id=_imdb_id(), rating="imdb_rating", votes="imdb_votes")),
        metacritic.SPEC.name: _documents(media, titles.filter("has_metacritic"), pl.struct(
            url=_site_url("https://www.metacritic.com/" + ("movie" if media == "movie" else "tv")),
            title="title", year="year", metascore="metascore", critic_count="critic_count", user_score="user_score",
            user_count="user_count", match_confidence=pl.lit(1.0))),
        rotten_tomatoes.SPEC.name: _documents(media, titles.filter("has_rotten_tomatoes"), pl.struct(
            url=_site_url("https://www.rottentomatoes.com/" + ("m" if media == "movie" else "tv")),
            title="title", year="year", tomatometer="tomatometer", critic_count="rt_critics",
            audience_score="audience", audience_count="rt_audience_count", match_confidence=pl.lit(1.0))),
        tvtropes.SPEC.name: _documents(media, titles.filter("has_tvtropes"), pl.struct(
            url=_site_url("https://tvtropes.org/pmwiki/pmwiki.php/" + ("Film" if media == "movie" else "Series")),
            title="title", year="year", namespace=pl.lit("Film" if media == "movie" else "Series"),
            tropes=_pick(TROPES, "trope", "trope_count"), match_confidence=pl.lit(1.0))),
        "offer_count": offers["offers"].list.len().sum() if offers.height else 0,
    }


def _documents(media: str, titles: pl.DataFrame, record: pl.Expr) -> pl.DataFrame:
    """Document frames as ``DocumentStore.upsert_frame`` takes them (the payload is the record)."""
    return titles.select(
        media=pl.lit(media), tmdb_id="tmdb_id", payload=record.struct.json_encode(),
    ).with_columns(record=pl.col("payload"), status=pl.lit(str(Status.OK)))


def _details_record(media: str, genres) -> pl.Expr:
    ratings = CERTIFICATIONS if media == "movie" else TV_RATINGS
    return pl.struct(
        media=pl.lit(media), tmdb_id="tmdb_id", title="title", original_title="title",
        overview=pl.format("A synthetic {} about the {}.", pl.lit(media), pl.col("title").str.to_lowercase()),
        original_language=pl.lit("en"), release_date="release_date", year="year", runtime="runtime",
        status=pl.lit("Released"), popularity="popularity", vote_average="vote_average", vote_count="vote_count",
        imdb_id=pl.when(pl.col("has_imdb")).then(_imdb_id()),
        genres=pl.concat_list(_name(genres, "genre_a"), _name(genres, "genre_b")).list.unique(maintain_order=True),
        keywords=pl.concat_list(_name(KEYWORDS, "keyword")),
        cast=_pick(PEOPLE, "person", pl.lit(3)), directors=pl.concat_list(_name([(0, p) for p in PEOPLE], "person")),
        certification=_name(list(enumerate(ratings)), "certification"),
        alternative_titles=pl.lit([], dtype=pl.List(pl.List(pl.String))),
        number_of_seasons=pl.col("seasons") if media == "tv" else pl.lit(None, pl.Int64),
        number_of_episodes=pl.col("episodes") if media == "tv" else pl.lit(None, pl.Int64),
        offers="offers",
    )


def _offers(media: str, ids: np.ndarray, counts: np.ndarray, base: np.ndarray) -> pl.DataFrame:
    """Each title's offers (a list of StreamingOffer structs): ``counts`` distinct (country, provider, type)
    kinds, from a per-title base kind by a fixed stride."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    position = np.arange(total) - starts
    kind = (np.repeat(base, counts) + position * _OFFER_STRIDE) % _OFFER_KINDS
    per_country = len(PROVIDERS) * len(OFFER_TYPES)
    providers = pl.DataFrame({"provider": range(len(PROVIDERS)), "provider_id": [p[0] for p in PROVIDERS],
                              "provider_name": [p[1] for p in PROVIDERS]})
    flat = pl.DataFrame({
        "tmdb_id": np.repeat(ids, counts), "country": np.array(COUNTRIES)[kind // per_country],
        "provider": (kind // len(OFFER_TYPES)) % len(PROVIDERS), "type": np.array(OFFER_TYPES)[kind % len(OFFER_TYPES)],
        "display_priority": position + 1,
    }).join(providers, on="provider", how="left", maintain_order="left")
    return flat.group_by("tmdb_id", maintain_order=True).agg(offers=pl.struct(
        "country", "provider_id", "provider_name", "type", "display_priority",
        link=pl.format("https://www.themoviedb.org/{}/{}/watch?locale={}", pl.lit(media), "tmdb_id", "country")))


def _imdb_id() -> pl.Expr:
    return pl.format("tt{}", pl.col("tmdb_id").cast(pl.String).str.zfill(8))


def _site_url(prefix: str) -> pl.Expr:
    slug = pl.col("title").str.to_lowercase().str.replace_all(" ", "_")
    return pl.format("{}/{}_{}_{}", pl.lit(prefix), slug, "year", "tmdb_id")


def _name(pairs, column: str) -> pl.Expr:
    """The name of a (id, name) vocabulary entry picked by index ``column``."""
    return pl.col(column).replace_strict(list(range(len(pairs))), [name for _, name in pairs], return_dtype=pl.String)


def _pick(words, first: str, count: str | pl.Expr) -> pl.Expr:
    """``count`` consecutive words of a vocabulary from index ``first`` (wrapping)."""
    count = pl.col(count) if isinstance(count, str) else count
    indexes = pl.int_ranges(pl.col(first), pl.col(first) + count).list.eval(pl.element() % len(words))
    return indexes.list.eval(pl.element().replace_strict(list(range(len(words))), list(words), return_dtype=pl.String))
