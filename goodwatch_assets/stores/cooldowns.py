"""Source cool-downs in the serving database (the fetch layer's ``CooldownRegistry``)."""

from __future__ import annotations

from datetime import datetime

from goodwatch_assets.stores.serving_db import ServingDb


class PostgresCooldowns:
    def __init__(self, db: ServingDb):
        self._db = db

    def active_until(self, source: str) -> datetime | None:
        with self._db.connect() as conn:
            row = conn.execute("SELECT until FROM source_cooldowns WHERE source = %s AND until > now()",
                               (source,)).fetchone()
        return row[0] if row else None

    def record(self, source: str, until: datetime, reason: str) -> None:
        """Keep the later of an existing and a new cool-down."""
        with self._db.connect() as conn:
            conn.execute(
                """INSERT INTO source_cooldowns (source, until, reason) VALUES (%s, %s, %s)
                   ON CONFLICT (source) DO UPDATE
                   SET until = greatest(source_cooldowns.until, EXCLUDED.until), reason = EXCLUDED.reason,
                       recorded_at = now()""",
                (source, until, reason),
            )

    def recorded_at(self, source: str) -> datetime | None:
        with self._db.connect() as conn:
            row = conn.execute("SELECT recorded_at FROM source_cooldowns WHERE source = %s", (source,)).fetchone()
        return row[0] if row else None
