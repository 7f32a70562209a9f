"""DNA from an LLM: the ``dna`` source's spec; several titles per chat-completions request, the answer checked title
by title.

Any OpenAI-compatible ``/chat/completions`` endpoint works (``LLM_BASE_URL``, ``LLM_API_KEY``,
``LLM_MODEL``). The answer must be JSON ``{"titles": [{"media", "tmdb_id", "dna": {category: [labels]}}]}``;
each title's part is validated on its own. Titles whose part is unusable are asked again, with the
problems named, at most ``MAX_REASKS`` times; what is still unusable comes back as a ParseError carrying
the raw answer (the queue quarantines it). Every request takes one unit of the model's daily budget
first; a spent budget halts the run (requests under way finish), and the titles not asked stay due.

Replay parses a quarantined title's part of its kept answer again with today's :func:`parse_answer`, the title's prompt
line made from its stored TMDB details as a run makes it: no request, no budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import FetchFailed, RateLimited, RunStopped, SourceClient
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.labels import normalise_dna
from goodwatch_assets.models.queue import DocumentKey, FetchedDocument, Reservation, Status
from goodwatch_assets.models.records import DNA_CATEGORIES, TitleDna, validate
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.spec import (
    MONTHLY,
    Column,
    Feed,
    GroupHandle,
    Kept,
    QueueSettings,
    Serving,
    SourceSpec,
    Sweep,
    TitleResult,
)

LLM = SitePolicy("llm", "https://api.openai.com/v1", 1, pool_limit=2, concurrency=2, timeout_s=180,
                 base_url_variable="LLM_BASE_URL")
"""Any OpenAI-compatible chat-completions endpoint; the live default is OpenAI's."""
MAX_REASKS = 2
MIN_CATEGORIES = 6
"""A title's answer must fill at least this many categories (an "unknown title" answer fills none)."""

SYSTEM_PROMPT = (
    "You describe films and TV shows beyond their genre, for a catalog that filters and matches titles by "
    "these descriptions. For every title given (one JSON object per line: media, tmdb_id, title, year, "
    "overview), give short labels (one to four words each, title case, no names of people or characters) "
    "for each of these categories: " + ", ".join(DNA_CATEGORIES) + ". Give two to five labels per "
    "category; leave a category empty only when it does not apply (Humor of a bleak drama). Answer with "
    'JSON only, no prose: an object with the key "titles", a list with one object per title given, in '
    'the order given, each with the keys "media" and "tmdb_id" exactly as given and "dna", an object '
    "from category name to a list of labels."
)


@dataclass(frozen=True)
class TitlePrompt:
    """What the model is told about one title."""

    media: str
    tmdb_id: int
    title: str
    year: int | None
    overview: str | None

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)

    def line(self) -> str:
        return orjson.dumps({"media": self.media, "tmdb_id": self.tmdb_id, "title": self.title, "year": self.year,
                             "overview": self.overview or ""}).decode()


def first_request(titles: list[TitlePrompt]) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "\n".join(t.line() for t in titles)}]


def reask(messages: list[dict[str, str]], answer: str, problems: dict[DocumentKey, str],
          titles: list[TitlePrompt]) -> list[dict[str, str]]:
    """The conversation so far, the model's unusable answer, and a request for the failed titles again."""
    listed = "\n".join(f"- {media} {tmdb_id}: {problem}" for (media, tmdb_id), problem in problems.items())
    return [*messages, {"role": "assistant", "content": answer}, {
        "role": "user",
        "content": f"Your answer could not be used:\n{listed}\nAnswer again, JSON only as described, for these "
                   "titles:\n" + "\n".join(t.line() for t in titles),
    }]


def _json_of(content: str) -> Any:
    text = content.strip()
    if text.startswith("```"):  # a fenced answer despite the instructions
        text = text.strip("`").removeprefix("json").strip()
    return orjson.loads(text)


def parse_answer(content: str, titles: list[TitlePrompt], model: str) -> dict[DocumentKey, TitleDna | str]:
    """Each asked title's DNA, or the problem with its part of the answer."""
    try:
        answer = _json_of(content)
    except orjson.JSONDecodeError as error:
        return {t.key: f"the answer is not JSON ({error})" for t in titles}
    entries = answer.get("titles") if isinstance(answer, dict) else answer
    if not isinstance(entries, list):
        return {t.key: 'the answer has no "titles" list' for t in titles}
    by_key = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("media") in ("movie", "tv") and isinstance(entry.get("tmdb_id"), int):
            by_key[(entry["media"], entry["tmdb_id"])] = entry
    return {t.key: _title_dna(by_key.get(t.key), t, model) for t in titles}


def _title_dna(entry: dict[str, Any] | None, title: TitlePrompt, model: str) -> TitleDna | str:
    if entry is None:
        return "missing from the answer"
    if entry.get("unknown") is True:
        return "the model says it does not know this title"
    dna = entry.get("dna")
    if not isinstance(dna, dict):
        return '"dna" is not an object of category -> labels'
    wrong = [category for category, labels in dna.items() if category in DNA_CATEGORIES and (
        not isinstance(labels, list) or not all(isinstance(label, str) for label in labels))]
    if wrong:
        return f"labels of {', '.join(wrong)} are not a list of strings"
    normal = normalise_dna({category: dna[category] for category in DNA_CATEGORIES if category in dna})
    if len(normal) < MIN_CATEGORIES:
        return f"only {len(normal)} of the {len(DNA_CATEGORIES)} categories have labels (at least {MIN_CATEGORIES})"
    try:
        return validate(TitleDna, None, media=title.media, tmdb_id=title.tmdb_id, dna=normal, llm_model=model,
                        title=title.title, year=title.year)
    except ParseError as error:
        return str(error)


def auth(api_key: str | None) -> dict[str, str]:
    """The headers that carry the endpoint's key."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def ask(client: SourceClient, model: str, messages: list[dict[str, str]]) -> str:
    """One chat completion's text; an envelope without one raises ParseError (an unusable answer)."""
    response = await client.request("POST", "/chat/completions", json={
        "model": model, "messages": messages, "temperature": 0, "response_format": {"type": "json_object"}})
    if response.status_code != 200:
        raise FetchFailed(f"{LLM.name}: HTTP {response.status_code} from /chat/completions")
    try:
        return response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ParseError(f"the chat completion has no message content ({type(error).__name__}: {error})",
                         response.content) from error


def title_prompts(details: Mapping[DocumentKey, dict[str, Any] | None]) -> dict[DocumentKey, TitlePrompt]:
    """The prompt lines of titles, from their TMDB details records (titles without a title are left out)."""
    prompts = {}
    for key, record in details.items():
        if record and record.get("title"):
            prompts[key] = TitlePrompt(key[0], key[1], record["title"], record.get("year"), record.get("overview"))
    return prompts


Prompts = Callable[[list[Reservation]], dict[DocumentKey, TitlePrompt]]
"""What the model is told about reserved titles (from their stored TMDB details)."""


def dna_handle(prompts_of: Prompts, take_request: Callable[[], bool], *, model: str, titles_per_request: int) -> GroupHandle:
    """Ask about up to ``titles_per_request`` titles at once, re-ask the failed ones."""

    async def handle(client: SourceClient, reservations: list[Reservation]) -> list[TitleResult]:
        prompts = prompts_of(reservations)
        results: dict[DocumentKey, TitleResult] = {
            r.key: FetchedDocument(r.media, r.tmdb_id, None, status=Status.NOT_FOUND,
                                   record={"not_found": "no TMDB details to describe"})
            for r in reservations if r.key not in prompts}
        pending = [prompts[r.key] for r in reservations if r.key in prompts]
        messages = first_request(pending)
        for attempt in range(MAX_REASKS + 1):
            if not pending:
                break
            if not take_request():
                client.halt(f"the daily request budget of {model} is spent")
                if attempt == 0:
                    raise RunStopped(LLM.name)  # this group is not tried: its titles are released, still due
                results.update((t.key, None) for t in pending)  # asked again next run; the others are kept
                break
            try:
                content = await ask(client, model, messages)
                parsed = parse_answer(content, pending, model)
            except ParseError as error:
                content, parsed = error.body or b"", {t.key: str(error) for t in pending}
            except (FetchFailed, RateLimited, httpx.HTTPError):
                if attempt == 0:
                    raise  # nothing answered yet: the group fails (or stops) as a whole
                results.update((t.key, None) for t in pending)  # keep what was answered; ask the rest next run
                break
            problems = {key: value for key, value in parsed.items() if isinstance(value, str)}
            for key, value in parsed.items():
                if isinstance(value, TitleDna):
                    results[key] = dna_document(value)
            failed = [t for t in pending if t.key in problems]
            if attempt == MAX_REASKS:
                for key, problem in problems.items():
                    results[key] = ParseError(f"unusable after {MAX_REASKS} re-asks: {problem}", content)
            elif failed:
                text = content.decode(errors="replace") if isinstance(content, bytes) else content
                messages = reask(messages, text, problems, failed)
            pending = failed
        return [results[r.key] for r in reservations]

    return GroupHandle(titles_per_request, handle)


def dna_document(dna: TitleDna) -> FetchedDocument:
    """The document of a title's usable DNA: the labels by category as its payload, the whole entry as its record."""
    entry = dna.model_dump(mode="json")
    return FetchedDocument(dna.media, dna.tmdb_id, entry["dna"], record=entry)


def replay_answer(kept: Kept) -> FetchedDocument:
    """A quarantined title's part of the kept answer, parsed with today's parser against its prompt (no request)."""
    prompt = title_prompts({kept.key: kept.fed_record}).get(kept.key)
    if prompt is None:
        raise ParseError("no TMDB details to check the answer against", kept.body)
    parsed = parse_answer(kept.body.decode("utf-8", errors="replace"), [prompt], kept.llm_model)[kept.key]
    if isinstance(parsed, str):
        raise ParseError(parsed, kept.body)
    return dna_document(parsed)


DNA_LABEL_IDS = "ARRAY(SELECT td.label_id FROM title_dna AS td WHERE td.media = k.media AND td.tmdb_id = k.tmdb_id " \
                "ORDER BY td.label_id)"
"""A title's canonical DNA label ids (``k``: the title's key), as the DNA index linked them."""

SPEC = SourceSpec(
    name="dna",
    description="Each title's DNA (Mood, Plot, Character Types, Key Props, ... -> labels), extracted by an "
                "OpenAI-compatible chat model from its TMDB details, several titles per request; answers validated, "
                "unusable ones asked again (twice) and then quarantined; a daily request budget per model.",
    site=LLM,
    freshness=MONTHLY,
    # The DNA of a title hardly changes: extracted once, refreshed yearly. Its handle re-asks unusable answers
    # itself, so what is still unusable is quarantined at once.
    queue=QueueSettings(refresh_age=timedelta(days=365), batch_size=25, quarantine_rejected=True),
    fed_by=Feed(tmdb.SPEC.name),
    replay=replay_answer,
    # Five titles per prompt; the model's daily request budget halts it too.
    sweep=Sweep("25 */6 * * *", timedelta(hours=6), requests_per_title=0.2),
    check_ranges={"year": (1870, 2100)},
    serving=Serving(
        alias="n", record_fields="dna jsonb",
        columns=(Column("dna", "nr.dna"), Column("dna_label_ids", DNA_LABEL_IDS, kept=False)),
        combined_after="dna_vectors",
    ),
)
