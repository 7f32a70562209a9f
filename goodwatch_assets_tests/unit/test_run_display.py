"""What ``goodwatch run`` shows: the tally of the main job's steps, plain lines off a terminal, a live display on one."""

from __future__ import annotations

import io
import re

import dagster as dg
from rich.console import Console

from goodwatch_assets.cli.run_display import RunDisplay
from goodwatch_assets.cli.run_tally import RunTally, duration
from goodwatch_assets.defs.main_job import PipelineStep, RunOutcome

DETAILS = [PipelineStep((dg.AssetKey("tmdb_details"),), f"movie|{shard:02d}") for shard in range(16)]
EXPORT = PipelineStep((dg.AssetKey("tmdb_daily_export"),), "2026-12-02")
SERVING = PipelineStep((dg.AssetKey("movies"), dg.AssetKey("streaming_links")), partition_range=("movie|00", "movie|15"))
STEPS = [EXPORT, *DETAILS, SERVING]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fetched(n: int, *, stopped_by: str | None = None) -> RunOutcome:
    return RunOutcome("run", figures={"fetched": n, "changed": n - 1, "not_found": 1, "requests": n + 1,
                                      "duration_s": 0.5}, stopped_by=stopped_by)


def play(progress, clock: Clock) -> None:
    """The plan, then every run started and finished a second apart (one details run stopped by a rate limit)."""
    progress.planned(STEPS)
    progress.started(EXPORT)
    clock.now += 1
    progress.finished(EXPORT, RunOutcome("run", figures={"dagster/row_count": 1200}))
    for number, step in enumerate(DETAILS):
        progress.started(step)
        clock.now += 1
        progress.finished(step, fetched(10, stopped_by="tmdb_api: rate limited (429)" if number == 3 else None))
    progress.started(SERVING)
    clock.now += 2
    progress.finished(SERVING, RunOutcome("run", "DatabaseUnavailable: the serving database stopped answering"))


def test_the_tally_sums_each_steps_figures_and_guesses_the_time_left():
    clock = Clock()
    tally = RunTally(clock)
    tally.planned(STEPS)
    assert (tally.runs, list(tally.steps)) == (18, ["tmdb_daily_export", "tmdb_details", "movies, streaming_links"])
    assert tally.remaining() is None  # nothing done yet: no pace to go by
    tally.started(EXPORT)
    clock.now += 2
    tally.finished(EXPORT, RunOutcome("run", figures={"dagster/row_count": 1200}))
    assert tally.remaining() == 2 * 17  # 2 s a run so far, 17 runs left
    for step in DETAILS[:4]:
        tally.started(step)
        clock.now += 1
        tally.finished(step, fetched(10))
    details = tally.steps["tmdb_details"]
    assert (details.done, details.runs, details.state) == (4, 16, "waiting")
    assert (details.figures["fetched"], details.figures["not_found"], details.figures["requests"]) == (40, 4, 44)
    assert details.seconds == 4 and details.rate == 11.0
    assert tally.status() == "5/18 runs, 6.0s elapsed, about 15.6s left"
    assert duration(75.2) == "1m15s" and duration(4.25) == "4.2s"


def test_off_a_terminal_the_display_prints_a_line_per_step_a_status_per_tenth_and_the_table():
    out, clock = io.StringIO(), Clock()
    display = RunDisplay(Console(file=out, width=160, force_terminal=False), clock=clock)
    play(display, clock)
    display.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "the main job: 18 runs in 3 steps"
    assert "✓ tmdb_daily_export: 1/1 run in 1.0s: 1,200 rows" in lines
    assert ("✓ tmdb_details: 16/16 partition runs in 16.0s: 160 fetched, 144 changed, 16 not found, 176 requests at "
            "11.0/s; 1 stopped early: tmdb_api: rate limited (429)") in lines
    assert "✗ movies, streaming_links [movie|00..movie|15] failed: DatabaseUnavailable: the serving database stopped " \
           "answering" in lines
    assert "✗ movies, streaming_links: 1/1 run in 2.0s, 1 failed" in lines
    statuses = [line for line in lines if line.startswith("[")]
    assert len(statuses) == 10 and statuses[-1].startswith("[100%] 18/18 runs, 19.0s elapsed")
    table = {line.split()[0]: line.split() for line in lines if line.startswith(" tmdb_")}
    assert table["tmdb_details"][1:5] == ["done", "16/16", "16.0s", "160"]
    assert lines[-1] == "18 runs in 19.0s"
    assert len(lines) < 40  # a whole run stays a few dozen lines however many runs it has


def test_on_a_terminal_the_display_redraws_while_the_job_runs_and_leaves_the_table():
    out, clock = io.StringIO(), Clock()
    display = RunDisplay(Console(file=out, width=160, force_terminal=True, color_system=None), clock=clock)
    assert display.live
    play(display, clock)
    display.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", out.getvalue())  # each cursor move starts a line
    frames = {line for line in text.replace("\r", "\n").splitlines() if line.startswith("running ")}
    assert len(frames) == 18  # the status line was redrawn as each run finished
    assert "✓ tmdb_details: 16/16 partition runs" in text and text.rstrip().endswith("18 runs in 19.0s")
    assert not [line for line in text.splitlines() if line.startswith("[")]  # no plain status lines on a terminal


def test_an_interrupted_job_ends_without_the_table():
    out, clock = io.StringIO(), Clock()
    display = RunDisplay(Console(file=out, width=160, force_terminal=False), clock=clock)
    display.planned(STEPS)
    display.close(table=False)
    display.close()  # a second close (the command's ``finally``) prints nothing more
    assert out.getvalue() == "the main job: 18 runs in 3 steps\n"
