"""``goodwatch quarantine``: the titles a source gave up on, what was kept of them, replay and release
(``lib/quarantine.py``; the ``quarantine_replay`` and ``quarantine_release`` jobs do the last two from the UI)."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import Settings

SHOWN_BYTES = 2_000
"""How much of a kept body ``show`` prints unless asked for all of it."""
_SELECTION = [
    click.option("--source", default=None, help="Only this source's titles (default: every per-title source)."),
    click.option("--since", default=None,
                 help="Only titles quarantined since: a date (2026-11-01), a UTC time (2026-11-01T12:00) or an age "
                      "(90m, 12h, 7d, 2w)."),
]


def _selection_options(command):
    for option in reversed(_SELECTION):
        command = option(command)
    return command


@contextmanager
def _store():
    from goodwatch_assets.stores.opening import open_stores

    _, documents = open_stores(Settings.from_env().stores)
    try:
        yield documents
    finally:
        documents.close()


def _selection(source, since, titles=()):
    """The titles a command acts on; None (after saying why) when a source asked for has none (it reads whole files)."""
    from goodwatch_assets.lib.quarantine import Selection

    selection = Selection.parse(source, since, titles)
    if selection.note:
        click.echo(selection.note)
    return selection if selection.sources else None


@main.group()
def quarantine() -> None:
    """Titles a source gave up on (an answer it could not use, or too many failures): list them, show what was kept,
    replay kept bodies with today's parsers, or release titles back to the queue."""


@quarantine.command("list")
@_selection_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Titles shown, newest first.")
def quarantine_list(source, since, limit) -> None:
    """Quarantined titles, newest first: when, attempts, the reason's first line, and the body kept; then how many per
    source."""
    from goodwatch_assets.lib.quarantine import first_line, quarantined_titles, title_label

    selection = _selection(source, since)
    if selection is None:
        return
    with _store() as store:
        titles = quarantined_titles(store, selection)
    if not titles:
        click.echo("no quarantined titles")
        return
    click.echo(f"{'source':<16} {'media':<5} {'tmdb_id':>9}  {'quarantined':<16}  {'attempts':>8}  {'body kept':>12}  "
               "reason")
    for title in titles[:limit]:
        when = f"{title.quarantined_at:%Y-%m-%d %H:%M}" if title.quarantined_at else "?"
        body = "none" if title.body_size is None else f"{title.body_size:,} B"
        click.echo(f"{title_label(title.source, title.key)}  {when:<16}  {title.attempts:>8}  {body:>12}  "
                   f"{_cut(first_line(title.reason), 100)}")
    per_source = Counter(title.source for title in titles)
    shown = f"; the newest {limit} shown" if len(titles) > limit else ""
    click.echo(f"quarantined: {len(titles)} titles ({', '.join(f'{s} {n}' for s, n in sorted(per_source.items()))})"
               f"{shown}")


@quarantine.command("show")
@click.argument("source")
@click.argument("media", type=click.Choice(["movie", "tv"]))
@click.argument("tmdb_id", type=click.IntRange(min=1))
@click.option("--full", is_flag=True, help=f"Print the whole body (default: its first {SHOWN_BYTES:,} bytes).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the body, byte for byte, to this file instead of printing it.")
def quarantine_show(source, media, tmdb_id, full, out) -> None:
    """One quarantined title: the reason, attempts, when, the URL the kept body came from, and the body."""
    from goodwatch_assets.lib.quarantine import QuarantineError, kept_document

    with _store() as store:
        document = kept_document(store, source, (media, tmdb_id))
    body = document.quarantine_body
    when = f"{document.quarantined_at:%Y-%m-%d %H:%M:%S} UTC" if document.quarantined_at else "not kept"
    click.echo(f"title:       {source} {media} {tmdb_id}")
    click.echo(f"quarantined: {when}, after {document.attempts} attempts")
    click.echo(f"reason:      {document.error or '(none kept)'}")
    click.echo(f"url:         {document.quarantine_url or '(none kept)'}")
    if body is None:
        click.echo("body:        none kept (nothing to replay: `goodwatch quarantine release` puts it back in the queue)")
        return
    if out is not None:
        try:
            out.write_bytes(body)
        except OSError as error:
            raise QuarantineError(f"cannot write the body to {out}: {error.strerror or error}") from None
        click.echo(f"body:        {len(body):,} bytes, written to {out}")
        return
    cut = not full and len(body) > SHOWN_BYTES
    shown = f" (the first {SHOWN_BYTES:,} shown: --full for all, --out FILE to save it)" if cut else ""
    click.echo(f"body:        {len(body):,} bytes{shown}")
    click.echo((body[:SHOWN_BYTES] if cut else body).decode("utf-8", errors="replace"))


@quarantine.command("replay")
@_selection_options
@click.argument("titles", nargs=-1)
def quarantine_replay(source, since, titles) -> None:
    """Parse the kept bodies again with today's parsers, without a request: store what passes (as a fetch would),
    keep what still fails quarantined with today's reason. TITLES: MEDIA TMDB_ID pairs (default: every one
    selected)."""
    from goodwatch_assets.defs.resources import build_resources
    from goodwatch_assets.lib.quarantine import ReplaySettings, replay

    selection = _selection(source, since, titles)
    if selection is None:
        return
    settings = Settings.from_env()
    queues = build_resources(settings)["queues"]
    with _store() as store:
        report = replay(store, selection, ReplaySettings(queue=queues.settings, site=settings.site,
                                                         llm_model=settings.llm.model))
    for line in report.lines():
        click.echo(line)


@quarantine.command("release")
@_selection_options
@click.option("--all", "every_title", is_flag=True,
              help="Release every quarantined title of every source (needed when nothing else is named).")
@click.argument("titles", nargs=-1)
def quarantine_release(source, since, every_title, titles) -> None:
    """Put quarantined titles back in the queue: due at once, attempts reset, kept bodies dropped (the next fetch keeps
    its own). TITLES: MEDIA TMDB_ID pairs (default: every one selected)."""
    from goodwatch_assets.lib.quarantine import release

    selection = _selection(source, since, titles)
    if selection is None:
        return
    with _store() as store:
        report = release(store, selection, every_title=every_title)
    for line in report.lines():
        click.echo(line)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
