"""Quarantine from the UI: ``quarantine_replay`` and ``quarantine_release``, jobs launched from the launchpad with the
titles to act on in their config. Each op is a thin caller of ``lib/quarantine.py``, as ``goodwatch quarantine`` is:
it logs a line per title and the summary, and records the counts as its output's metadata."""

import dagster as dg

from goodwatch_assets.defs.resources import DocumentStoreResource, FetchResource, LlmResource, QueuesResource
from goodwatch_assets.lib.quarantine import ReplaySettings, Selection, release, replay


class QuarantineConfig(dg.Config):
    """Which quarantined titles to act on (nothing set: every quarantined title of every per-title source; a release
    of them all also needs ``every_title``)."""

    source: str | None = None
    """Only this source's titles (``metacritic``, ``dna``, …)."""
    since: str | None = None
    """Only titles quarantined since: a date (2026-11-01), a UTC time (2026-11-01T12:00) or an age (90m, 12h, 7d, 2w)."""
    titles: list[str] = []
    """Only these titles, each ``MEDIA TMDB_ID`` (``movie 603``)."""
    every_title: bool = False
    """Release: needed to release every quarantined title of every source (their kept bodies are dropped)."""

    def selection(self) -> Selection:
        return Selection.parse(self.source, self.since, self.titles)


def _reported(context: dg.OpExecutionContext, lines: list[str], metadata: dict) -> dg.Output:
    for line in lines:
        context.log.info(line)
    return dg.Output(None, metadata=metadata)


@dg.op(out=dg.Out(dg.Nothing), description="Parse the selected quarantined titles' kept bodies again with today's "
       "parsers, without a request: store what passes as a fetch would, keep what still fails with today's reason.")
def replay_quarantined(context: dg.OpExecutionContext, config: QuarantineConfig, documents: DocumentStoreResource,
                       queues: QueuesResource, fetch: FetchResource, llm: LlmResource) -> dg.Output:
    report = replay(documents.store, config.selection(),
                    ReplaySettings(queue=queues.settings, site=fetch.policy, llm_model=llm.model))
    return _reported(context, report.lines(), report.as_metadata())


@dg.op(out=dg.Out(dg.Nothing), description="Put the selected quarantined titles back in their queue: due at once, "
       "attempts reset, kept bodies dropped.")
def release_quarantined(context: dg.OpExecutionContext, config: QuarantineConfig,
                        documents: DocumentStoreResource) -> dg.Output:
    report = release(documents.store, config.selection(), every_title=config.every_title)
    return _reported(context, report.lines(), report.as_metadata())


@dg.job(description="Replay quarantined titles' kept bodies with today's parsers (no request); config: source, since, "
        "titles.")
def quarantine_replay() -> None:
    replay_quarantined()


@dg.job(description="Release quarantined titles back to their queue, due at once; config: source, since, titles.")
def quarantine_release() -> None:
    release_quarantined()


JOBS = [quarantine_replay, quarantine_release]
