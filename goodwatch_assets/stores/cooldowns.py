"""Source cool-downs and paces in the serving database (the fetch layer's ``CooldownRegistry``).

A rate-limit answer records a cool-down (no run of the source sends anything until it is over) and halves
the source's pace; each run that ends without a rate limit gives a quarter of it back. Multiplicative
decrease, gentle increase: runs settle just under a limit that is lower than the policy believes. A block (a
challenge) records a longer cool-down and is logged in ``site_blocks``; it leaves the pace alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from goodwatch_assets.stores.serving_db import ServingDb

SLOWDOWN = 0.5
"""The pace is multiplied by this at each rate limit."""
RECOVERY = 1.25
"""... and by this after each run without one (never above 1)."""
SLOWEST_PACE = 1 / 1024


@dataclass(frozen=True)
class SiteCooldown:
    """A site's row: its last cool-down (over or not), why, and the pace its runs keep."""

    site: str
    until: datetime
    reason: str
    recorded_at: datetime
    pace: float
    active: bool
    """The cool-down is not over yet: no run of the site sends anything."""


class PostgresCooldowns:
    def __init__(self, db: ServingDb):
        self._db = db

    def active_until(self, source: str) -> datetime | None:
        with self._db.connect() as conn:
            row = conn.execute("SELECT until FROM source_cooldowns WHERE source = %s AND until > now()",
                               (source,)).fetchone()
        return row[0] if row else None

    def pace(self, source: str) -> float:
        """The share of its policy's rate the source's runs keep (1.0 unless rate limits slowed it)."""
        with self._db.connect() as conn:
            row = conn.execute("SELECT pace FROM source_cooldowns WHERE source = %s", (source,)).fetchone()
        return row[0] if row else 1.0

    def record(self, source: str, until: datetime, reason: str) -> None:
        """Keep the later of an existing and a new cool-down, and slow the source down."""
        with self._db.connect() as conn:
            conn.execute(
                """INSERT INTO source_cooldowns (source, until, reason, pace) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (source) DO UPDATE
                   SET until = greatest(source_cooldowns.until, EXCLUDED.until), reason = EXCLUDED.reason,
                       recorded_at = now(), pace = greatest(%s, source_cooldowns.pace * %s)""",
                (source, until, reason, SLOWDOWN, SLOWEST_PACE, SLOWDOWN),
            )

    def block(self, source: str, until: datetime, reason: str) -> None:
        """Keep the later of an existing cool-down and this block's, and log the block (the pace is kept: a block is
        not a rate)."""
        with self._db.connect() as conn:
            conn.execute(
                """INSERT INTO source_cooldowns (source, until, reason) VALUES (%s, %s, %s)
                   ON CONFLICT (source) DO UPDATE
                   SET until = greatest(source_cooldowns.until, EXCLUDED.until), reason = EXCLUDED.reason,
                       recorded_at = now()""",
                (source, until, reason),
            )
            conn.execute("INSERT INTO site_blocks (site, until, reason) VALUES (%s, %s, %s)", (source, until, reason))

    def blocks(self, source: str) -> list[tuple[datetime, datetime, str]]:
        """The site's logged blocks: (when, until, why), oldest first."""
        with self._db.connect() as conn:
            return [tuple(row) for row in conn.execute(
                "SELECT blocked_at, until, reason FROM site_blocks WHERE site = %s ORDER BY blocked_at", (source,))]

    def recover(self, source: str) -> None:
        """A run ended without a rate limit: speed the source up again, towards its policy's rate."""
        with self._db.connect() as conn:
            conn.execute("UPDATE source_cooldowns SET pace = least(1.0, pace * %s) WHERE source = %s AND pace < 1",
                         (RECOVERY, source))

    def recorded_at(self, source: str) -> datetime | None:
        with self._db.connect() as conn:
            row = conn.execute("SELECT recorded_at FROM source_cooldowns WHERE source = %s", (source,)).fetchone()
        return row[0] if row else None

    def states(self) -> list[SiteCooldown]:
        """Every site that was ever cooled down or slowed, by name."""
        with self._db.connect() as conn:
            return [SiteCooldown(*row) for row in conn.execute(
                "SELECT source, until, reason, recorded_at, pace, until > now() FROM source_cooldowns ORDER BY source")]

    def clear(self, source: str, *, reset_pace: bool = False) -> tuple[SiteCooldown | None, SiteCooldown | None]:
        """End the site's cool-down now (and give its runs the policy's whole rate back, with ``reset_pace``): an
        operator's word that the site is fine again. Returns the site's row before and after (None: no row)."""
        with self._db.connect() as conn:
            before = conn.execute("SELECT source, until, reason, recorded_at, pace, until > now() FROM source_cooldowns "
                                  "WHERE source = %s FOR UPDATE", (source,)).fetchone()
            after = conn.execute(
                """UPDATE source_cooldowns SET until = least(until, now()),
                          reason = reason || ' (cleared by hand)' || CASE WHEN %s THEN ', pace reset' ELSE '' END,
                          pace = CASE WHEN %s THEN 1.0 ELSE pace END
                   WHERE source = %s AND (until > now() OR (%s AND pace < 1))
                   RETURNING source, until, reason, recorded_at, pace, until > now()""",
                (reset_pace, reset_pace, source, reset_pace)).fetchone()
        return (SiteCooldown(*before) if before else None), (SiteCooldown(*after) if after else None)
