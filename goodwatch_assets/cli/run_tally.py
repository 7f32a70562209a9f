"""What the main job has done so far, step by step: the numbers ``goodwatch run`` shows while it runs and at its end.

A step is the set of runs of the same assets (one per partition, or one per media type's range); each finished run
adds the figures its materializations reported. Pure counting, told by :class:`~goodwatch_assets.defs.main_job.
PipelineProgress` calls, so the display that renders it is all the command has to choose.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from goodwatch_assets.defs.main_job import PipelineStep, RunOutcome

FIGURES = (("fetched", "fetched"), ("changed", "changed"), ("not_found", "not found"), ("quarantined", "quarantined"),
           ("requests", "requests"), ("dagster/row_count", "rows"))
"""(materialization metadata key, column heading) of the figures shown per step, summed over its runs."""


@dataclass
class StepTally:
    """The runs of one step: how many are planned, started and done, and what they reported."""

    name: str
    runs: int = 0
    started: int = 0
    done: int = 0
    failed: int = 0
    figures: Counter = field(default_factory=Counter)
    stopped_by: Counter = field(default_factory=Counter)
    first_start: float | None = None
    last_end: float | None = None

    @property
    def complete(self) -> bool:
        return self.done == self.runs

    @property
    def state(self) -> str:
        if self.complete:
            return "failed" if self.failed else "done"
        return "running" if self.started > self.done else "waiting"

    @property
    def seconds(self) -> float:
        """From its first run's start to its last finished run's end."""
        return (self.last_end or 0.0) - (self.first_start or 0.0) if self.done else 0.0

    @property
    def rate(self) -> float | None:
        """Requests per second over the step's span (its runs overlap, so this is the site's achieved rate)."""
        return self.figures["requests"] / self.seconds if self.figures["requests"] and self.seconds > 0 else None

    def summary(self) -> str:
        """One line on a finished step."""
        shown = ", ".join(f"{self.figures[key]:,.0f} {label}" for key, label in FIGURES if self.figures[key])
        rate = f" at {self.rate:.1f}/s" if self.rate else ""
        failed = f", {self.failed} failed" if self.failed else ""
        stopped = "".join(f"; {count} stopped early: {why}" for why, count in self.stopped_by.items())
        return (f"{'✗' if self.failed else '✓'} {self.name}: {self.done}/{self.runs} "
                f"{'partition runs' if self.runs > 1 else 'run'} in {duration(self.seconds)}{failed}"
                f"{': ' + shown if shown else ''}{rate}{stopped}")


@dataclass
class RunTally:
    """Every step of the main job, in the plan's order; ``clock`` is when "now" is (tests move it)."""

    clock: Callable[[], float] = time.monotonic
    steps: dict[str, StepTally] = field(default_factory=dict)
    began: float = 0.0

    def planned(self, steps: Sequence[PipelineStep]) -> None:
        self.began = self.clock()
        for step in steps:
            self.steps.setdefault(step.names, StepTally(step.names)).runs += 1

    def started(self, step: PipelineStep) -> StepTally:
        tally = self.steps[step.names]
        tally.started += 1
        tally.first_start = tally.first_start or self.clock()
        return tally

    def finished(self, step: PipelineStep, outcome: RunOutcome) -> StepTally:
        tally = self.steps[step.names]
        tally.done += 1
        tally.failed += outcome.error is not None
        tally.figures.update(outcome.figures)
        if outcome.stopped_by:
            tally.stopped_by[outcome.stopped_by] += 1
        tally.last_end = self.clock()
        return tally

    @property
    def runs(self) -> int:
        return sum(t.runs for t in self.steps.values())

    @property
    def done(self) -> int:
        return sum(t.done for t in self.steps.values())

    @property
    def elapsed(self) -> float:
        return self.clock() - self.began

    def remaining(self) -> float | None:
        """A guess of the time left: the runs left at the pace of the runs done (None before the first is done, and
        once all are)."""
        return self.elapsed / self.done * (self.runs - self.done) if 0 < self.done < self.runs else None

    def running(self) -> list[str]:
        return [t.name for t in self.steps.values() if t.state == "running"]

    def status(self) -> str:
        """Where the whole job stands, in one line."""
        left = self.remaining()
        return (f"{self.done}/{self.runs} runs, {duration(self.elapsed)} elapsed"
                f"{f', about {duration(left)} left' if left is not None else ''}"
                f"{'; running: ' + ', '.join(self.running()) if self.running() else ''}")


def duration(seconds: float) -> str:
    """``75.2`` -> ``1m15s``; under a minute, ``42.0s``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"
