"""How ``goodwatch run`` shows the main job: a live display on a terminal, plain lines elsewhere, a table at the end.

On a terminal the display redraws a few times a second: the runs done of all, elapsed and remaining time, and a row
per step (its partitions done of all, titles fetched, changed and not found, requests and the achieved rate). Off a
terminal (CI, a log file) it prints a line per finished step and a status line at each tenth of the runs, so a whole
run stays a few dozen lines. Both end with the same table. Dagster's own events are not shown here: they stay in the
instance, for the UI (``goodwatch run --verbose`` prints them too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from goodwatch_assets.cli.run_tally import FIGURES, RunTally, duration
from goodwatch_assets.defs.main_job import PipelineStep, RunOutcome

PLAIN_WIDTH = 160
"""Columns of the output when it is not a terminal (a log file has no width to ask)."""
STATUS_EVERY = 10
"""Off a terminal, a status line each time this many percent more of the runs are done."""


class RunDisplay:
    """A :class:`~goodwatch_assets.defs.main_job.PipelineProgress` that shows the job on ``console``; ``close`` ends
    the live part and, unless the job was interrupted, prints the table."""

    def __init__(self, console: Console, *, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.tally = RunTally(clock)
        self._live: Live | None = None
        self._tenths_shown = 0
        self._closed = False

    @classmethod
    def for_stdout(cls) -> RunDisplay:
        probe = Console()
        return cls(probe if probe.is_terminal else Console(width=PLAIN_WIDTH, no_color=True, highlight=False))

    @property
    def live(self) -> bool:
        return self.console.is_terminal

    def planned(self, steps: Sequence[PipelineStep]) -> None:
        self.tally.planned(steps)
        self.console.print(f"the main job: {self.tally.runs} runs in {len(self.tally.steps)} steps")
        if self.live:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def started(self, step: PipelineStep) -> None:
        self.tally.started(step)

    def finished(self, step: PipelineStep, outcome: RunOutcome) -> None:
        tally = self.tally.finished(step, outcome)
        if self._live is not None:
            self._live.refresh()
        if outcome.error is not None:
            self.console.print(f"✗ {step.describe()} failed: {outcome.error}", markup=False)
        if tally.complete:
            self.console.print(tally.summary(), markup=False)
        tenths = self.tally.done * 100 // STATUS_EVERY // max(self.tally.runs, 1)
        if not self.live and tenths > self._tenths_shown:
            self._tenths_shown = tenths
            self.console.print(f"[{self.tally.done * 100 // max(self.tally.runs, 1)}%] {self.tally.status()}",
                               markup=False)

    def close(self, *, table: bool = True) -> None:
        """End the live part and print the table (once: a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()
        if table and self.tally.steps:
            self.console.print(self.table())
            self.console.print(f"{self.tally.done} runs in {duration(self.tally.elapsed)}")

    def table(self) -> Table:
        """A row per step: its state, runs done of all, span, and the figures its runs reported."""
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for heading in ("step", "state", "runs", "time", *(label for _, label in FIGURES), "req/s"):
            table.add_column(heading, justify="left" if heading in ("step", "state") else "right")
        for step in self.tally.steps.values():
            figures = [f"{step.figures[key]:,.0f}" if step.figures[key] else "" for key, _ in FIGURES]
            table.add_row(step.name, step.state, f"{step.done}/{step.runs}", duration(step.seconds) if step.done else "",
                          *figures, f"{step.rate:.1f}" if step.rate else "")
        return table

    def __rich__(self) -> Group:
        """The live part: the whole job's bar and status, then the table as it stands."""
        bar = ProgressBar(total=max(self.tally.runs, 1), completed=self.tally.done, width=40)
        return Group(Text.assemble("running ", (self.tally.status(), "bold")), bar, self.table())
