"""The LLM's daily request budget per model, shared by every run through the serving database."""

from __future__ import annotations

from datetime import date

from goodwatch_assets.stores.serving_db import ServingDb


class LlmBudget:
    """``take()`` one request of ``daily_requests`` for ``model`` on the current UTC day, atomically."""

    def __init__(self, db: ServingDb, model: str, daily_requests: int):
        self._db, self.model, self.daily_requests = db, model, daily_requests

    def take(self) -> bool:
        """True (and counted) while today's budget lasts; False once it is spent."""
        with self._db.connect() as conn:
            row = conn.execute(
                """INSERT INTO llm_budget AS b (model, day, requests)
                   SELECT %(model)s, (now() AT TIME ZONE 'UTC')::date, 1 WHERE %(limit)s > 0
                   ON CONFLICT (model, day) DO UPDATE SET requests = b.requests + 1 WHERE b.requests < %(limit)s
                   RETURNING requests""",
                {"model": self.model, "limit": self.daily_requests},
            ).fetchone()
        return row is not None

    def used(self, day: date | None = None) -> int:
        with self._db.connect() as conn:
            row = conn.execute(
                "SELECT requests FROM llm_budget WHERE model = %s AND day = coalesce(%s, (now() AT TIME ZONE 'UTC')::date)",
                (self.model, day),
            ).fetchone()
        return row[0] if row else 0
