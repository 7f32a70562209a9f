"""``goodwatch explain``: where each of a title's values came from, and why a source has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
import orjson

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import Settings

LABEL = 14
"""Width of a source's detail labels in the text output."""
VALUE = 40
"""Width of a serving column's value in the text output."""


@main.command("explain")
@click.argument("media", type=click.Choice(["movie", "tv"]))
@click.argument("tmdb_id", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts (sources by name, datetimes ISO 8601).")
def explain(media: str, tmdb_id: int, as_json: bool) -> None:
    """Every source's stored value of the title MEDIA TMDB_ID (URL, fetch, match evidence, status, why not found,
    next refresh) and its serving row's values, each with the source it came from."""
    from goodwatch_assets.lib.explain import explain_title
    from goodwatch_assets.stores.opening import open_stores

    settings = Settings.from_env()
    serving_db, store = open_stores(settings.stores)
    try:
        explanation = explain_title(store, serving_db, media, tmdb_id,
                                    refresh_ages={name: queue.refresh_age for name, queue in settings.queues.items()})
    finally:
        store.close()
    if as_json:
        click.echo(orjson.dumps(explanation.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo("\n".join(explanation_lines(explanation)))


def explanation_lines(explanation) -> list[str]:
    year = f" ({explanation.year})" if explanation.year else ""
    lines = [f"{explanation.media} {explanation.tmdb_id}  {explanation.title or '(no title stored)'}{year}"]
    for source in explanation.sources:
        lines += ["", *_source_lines(source)]
    lines += ["", *_serving_lines(explanation)]
    return lines


def _source_lines(source) -> list[str]:
    why = source.not_found or source.error
    lines = [f"{source.source}: {source.status.replace('_', ' ')}" + (f" — {why}" if why else "")]

    def detail(label: str, text: str) -> None:
        lines.append(f"  {label:<{LABEL}} {text}")

    if source.url:
        detail("url", source.url)
    if source.fetched_at:
        changed = f", changed {_when(source.changed_at)}" if source.changed_at else ""
        detail("fetched", _when(source.fetched_at) + changed)
    if source.match_confidence is not None:
        detail("confidence", f"{source.match_confidence:g}")
    if source.evidence:
        detail("evidence", " ".join(f"{k}={v}" for k, v in source.evidence.items() if v is not None))
    if source.duplicate_of:
        detail("page held by", " ".join(map(str, source.duplicate_of)))
    if source.tried:
        detail("tried", ", ".join(source.tried))
    for page in source.rejected:
        detail("rejected", f"{page['path']} (found by {page.get('found_by')}): {page['reason']}")
        detail("", f"the page said: {_said(page.get('page') or {})}")
    for name, value in (source.values or {}).items():
        detail("value", f"{name}: {_short(value, 100)}")
    if source.attempts or source.fetched_at:
        detail("attempts", str(source.attempts))
    detail("next refresh", _next_refresh(source))
    return lines


def _serving_lines(explanation) -> list[str]:
    row = explanation.serving
    if row is None:
        return ["no serving row yet: the combine makes it once the title's TMDB details are stored"]
    width = max(len(value.column) for value in (*row.values, *row.aggregates))
    lines = [f"serving row ({row.table})", f"  {'column':<{width}} {'value':<{VALUE}}  from"]
    lines += [f"  {v.column:<{width}} {_short(v.value, VALUE):<{VALUE}}  {v.source or '(the combine)'}"
              for v in row.values]
    lines += [f"  {a.column:<{width}} {_short(a.value, VALUE):<{VALUE}}  {', '.join(a.sources) or '(no score)'}"
              for a in row.aggregates]
    links = row.streaming_links
    lines += [f"streaming links ({links.source}): {links.current} current, {links.obsolete} obsolete",
              f"  {'providers':<{LABEL}} {', '.join(links.providers) or '—'}",
              f"  {'countries':<{LABEL}} {', '.join(links.countries) or '—'}"]
    return lines


_BASIS = {
    "never_fetched": "now (never fetched)",
    "daily_file": "with the next daily file",
    "partition_run": "with the source's next run over the title's partition",
    "not_queued": "none (not queued for this source)",
    "unknown_source": "unknown (not a source of this code)",
}


def _next_refresh(source) -> str:
    refresh = source.next_refresh
    if refresh.basis == "not_due":
        return f"none while {source.status}"
    if refresh.at is None:
        return _BASIS[refresh.basis]
    if refresh.basis == "refresh_age":
        why = f"fetched + the refresh age of {(refresh.at - source.fetched_at) / timedelta(days=1):g} days"
    else:
        why = "retry after its last failure" if source.status == "failed" else "the due date its last fetch set"
    return f"{_when(refresh.at)} ({why})" + (": due now" if refresh.due else "")


def _said(page: dict[str, Any]) -> str:
    """What a rejected page said it was, the fields it showed."""
    return ", ".join(f"{name} {_short(value, 60)}" for name, value in page.items() if value not in (None, [], ()))


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def _short(value: Any, width: int) -> str:
    """A value on one line, cut at ``width`` characters: lists joined (a list of objects counted: ``--json`` has
    them), other structures as JSON."""
    if value is None or value == [] or value == ():
        text = "—"
    elif isinstance(value, datetime):
        text = _when(value)
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple) and any(isinstance(item, dict) for item in value):
        text = f"{len(value)} entries"
    elif isinstance(value, list | tuple):
        text = ", ".join(" ".join(map(str, item)) if isinstance(item, list | tuple) else str(item) for item in value)
    elif isinstance(value, dict):
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"
