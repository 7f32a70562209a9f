"""Canonical records: what every source's payload is turned into, and the schema gate.

A record that fails validation is quarantined with its raw body; nothing invalid reaches the
serving tables. Ranges are the sources' own: percentages 0–100, ratings 0–10, counts ≥ 0.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goodwatch_assets.errors import ParseError

Media = Literal["movie", "tv"]
OfferType = Literal["flatrate", "rent", "buy", "ads", "free"]
Percent = Field(default=None, ge=0, le=100)
Count = Field(default=None, ge=0)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamingOffer(Record):
    country: str = Field(min_length=2, max_length=2)
    provider_id: int = Field(gt=0)
    provider_name: str
    type: OfferType
    display_priority: int | None = None
    link: str | None = None


class TitleDetails(Record):
    """TMDB details with its appends."""

    media: Media
    tmdb_id: int = Field(gt=0)
    title: str = Field(min_length=1)
    original_title: str | None = None
    overview: str | None = None
    original_language: str | None = None
    release_date: date | None = None
    year: int | None = Field(default=None, ge=1870, le=2100)
    runtime: int | None = Field(default=None, ge=0)
    status: str | None = None
    popularity: float | None = Field(default=None, ge=0)
    vote_average: float | None = Field(default=None, ge=0, le=10)
    vote_count: int | None = Count
    imdb_id: str | None = Field(default=None, pattern=r"^tt\d{7,}$")
    genres: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()
    certification: str | None = None
    alternative_titles: tuple[tuple[str, str], ...] = ()  # (country, title)
    translations: tuple[tuple[str, str, str], ...] = ()  # (country, language, title)
    last_air_date: date | None = None
    number_of_seasons: int | None = Count
    number_of_episodes: int | None = Count
    offers: tuple[StreamingOffer, ...] = ()


class ImdbRating(Record):
    imdb_id: str = Field(pattern=r"^tt\d{7,}$")
    rating: float | None = Field(default=None, ge=1, le=10)
    votes: int | None = Count
    metascore: int | None = Percent
    title: str | None = None
    year: int | None = None


class PageIdentity(Record):
    """What a page says it is, checked against the title it was found for (``sources/page_verification.py``):
    what it shows of the title's identity, and once accepted, how sure the match is and what agreed
    (``evidence``: field -> how it compared, and where the page was found)."""

    url: str | None = None
    title: str | None = None
    year: int | None = None
    imdb_id: str | None = Field(default=None, pattern=r"^tt\d{7,}$")
    directors: tuple[str, ...] = ()
    runtime: int | None = Field(default=None, ge=1, le=1000)
    match_confidence: float | None = Field(default=None, ge=0, le=1)
    evidence: dict[str, Any] | None = None


class MetacriticScores(PageIdentity):
    metascore: int | None = Percent
    critic_count: int | None = Count
    user_score: float | None = Field(default=None, ge=0, le=10)
    user_count: int | None = Count


class RottenTomatoesScores(PageIdentity):
    tomatometer: int | None = Percent
    critic_count: int | None = Count
    audience_score: int | None = Percent
    audience_count: int | None = Count
    audience_count_label: str | None = None
    certified: bool | None = None


class TropesPage(PageIdentity):
    namespace: str | None = None
    tropes: tuple[str, ...] = ()
    subpages: tuple[str, ...] = ()


DNA_CATEGORIES = (
    "Sub-Genres", "Mood", "Themes", "Plot", "Character Types", "Dialog", "Narrative", "Humor", "Pacing", "Time",
    "Place", "Cinematic Style", "Score and Sound", "Costume and Set", "Key Props", "Target Audience", "Content Flags",
)
"""The DNA categories asked of the model, in the order they are shown and stored."""
DnaCategory = Literal[DNA_CATEGORIES]


class TitleDna(Record):
    """One title's DNA: category -> labels, normalised (see ``labels.normalise_labels``)."""

    media: Media
    tmdb_id: int = Field(gt=0)
    dna: dict[DnaCategory, tuple[str, ...]]
    llm_model: str
    title: str | None = None
    year: int | None = None


def validate(model: type[Record], body: str | bytes | None = None, **values) -> Record:
    """Build a record or raise ParseError (with the raw body, for quarantine) naming what was invalid."""
    try:
        return model(**values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        raise ParseError(f"invalid {model.__name__}: {problems}", body) from error
