"""A source's titles by status, in some catalog partitions or all of the source: the shares its checks judge
(``defs/source_checks.py``) and each of its runs reports in its materialization's metadata (``defs/title_runs.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from goodwatch_assets.models.queue import Status
from goodwatch_assets.stores.documents import DocumentStore


@dataclass(frozen=True)
class StatusCounts:
    """How many of a source's titles are in each status."""

    by_status: Mapping[str, int]

    @classmethod
    def read(cls, store: DocumentStore, source: str, filters: Iterable[Mapping[str, Any]] = ({},)) -> StatusCounts:
        """Summed over ``filters`` (each a ``count_by_status`` filter, e.g. one partition's media and shard; the
        default: all of the source)."""
        counts: dict[str, int] = {}
        for one in filters:
            for status, n in store.count_by_status(source, **one).items():
                counts[status] = counts.get(status, 0) + n
        return cls(counts)

    def __getitem__(self, status: Status) -> int:
        return self.by_status.get(status, 0)

    @property
    def known(self) -> int:
        """Titles the source knows of and upstream still has: all but the deleted."""
        return sum(n for status, n in self.by_status.items() if status != Status.DELETED)

    @property
    def tried(self) -> int:
        """Titles fetched at least once: neither pending nor deleted."""
        return sum(n for status, n in self.by_status.items() if status not in (Status.PENDING, Status.DELETED))

    @property
    def quarantine_share(self) -> float:
        """Of the titles tried, the share given up on."""
        return self[Status.QUARANTINED] / self.tried if self.tried else 0.0

    @property
    def share_with_data(self) -> float:
        """Of the titles known, the share with data stored (the coverage)."""
        return self[Status.OK] / self.known if self.known else 0.0

    @property
    def share_pending(self) -> float:
        """Of the titles known, the share never fetched (all of them when none is known)."""
        return self[Status.PENDING] / self.known if self.known else 1.0
