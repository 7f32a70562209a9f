"""Lane 2's input: app demand (``title_events``), TMDB's trending lists, and the ranking of what to refresh first.

The web app records what its users look at with :func:`record_event` (or ``goodwatch record-view``): a detail
view, a search impression, or a request for a title the catalog does not have yet. :func:`rank_titles` scores
titles by that demand, decayed with a half-life, plus TMDB's trending day and week lists (weighted by rank)
plus their popularity, and leaves out titles lane 2 refreshed within the last 7 days. No Dagster here:
the priority sensor (``defs/priority/sensor.py``) calls it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.models.shards import MEDIA_TYPES, shard_of
from goodwatch_assets.stores.documents import utc_now
from goodwatch_assets.stores.serving_db import ServingDb

EVENT_WEIGHTS = {"view": 1.0, "impression": 0.1, "request": 5.0}
"""What one event of each kind counts before decay: a request for an unknown title counts heavily."""
DEMAND_HALF_LIFE = timedelta(days=3)
DEMAND_WINDOW = timedelta(days=21)  # older events weigh under 1% of a new one: not read
TRENDING_WEIGHTS = {"day": 3.0, "week": 2.0}
"""A title at rank 1 of a trending list; the weight falls linearly to a third of it at the list's end."""
POPULARITY_SCALE = 1000.0  # popularity up to this adds up to 1 point
REFRESH_AGAIN_AFTER = timedelta(days=7)
"""A title lane 2 refreshed is not asked for again before this."""


class DemandError(GoodwatchError):
    """An event that cannot be recorded (unknown media or kind, a bad id)."""


@dataclass(frozen=True)
class RankedTitle:
    media: str
    tmdb_id: int
    score: float
    demand: float
    trending: float
    popularity: float | None

    @property
    def shard(self) -> int:
        return shard_of(self.tmdb_id)


def record_event(db: ServingDb, media: str, tmdb_id: int, kind: str = "view", *, at: datetime | None = None) -> None:
    """Record one app event for a title (it need not be in the catalog: a ``request`` asks for it)."""
    record_events(db, [(media, tmdb_id, kind)], at=at)


def record_events(db: ServingDb, events: Iterable[tuple[str, int, str]], *, at: datetime | None = None) -> int:
    rows = [_checked(media, tmdb_id, kind) + (at or utc_now(),) for media, tmdb_id, kind in events]
    with db.connect() as conn, conn.cursor() as cur:
        with cur.copy("COPY title_events (media, tmdb_id, kind, occurred_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)


def _checked(media: str, tmdb_id: int, kind: str) -> tuple[str, int, str]:
    if media not in MEDIA_TYPES:
        raise DemandError(f"media must be one of {MEDIA_TYPES}, got {media!r}")
    if kind not in EVENT_WEIGHTS:
        raise DemandError(f"event kind must be one of {tuple(EVENT_WEIGHTS)}, got {kind!r}")
    if not isinstance(tmdb_id, int) or not 0 < tmdb_id < 2**31:
        raise DemandError(f"a tmdb id is a whole number from 1 to {2**31 - 1}, got {tmdb_id!r}")
    return media, tmdb_id, kind


def demand_signature(db: ServingDb) -> list:
    """What the ranking reads, in two numbers: the newest event and the newest trending fetch. Unchanged between
    two ticks means nothing new to rank."""
    with db.connect() as conn:
        row = conn.execute("""SELECT (SELECT max(id) FROM title_events),
                                     (SELECT extract(epoch FROM max(fetched_at)) FROM trending_titles)""").fetchone()
    return [row[0], None if row[1] is None else float(row[1])]


def rank_titles(db: ServingDb, *, limit: int, min_score: float = 0.0, now: datetime | None = None,
                leave_out: Collection[tuple[str, int]] = ()) -> list[RankedTitle]:
    """The ``limit`` titles most worth refreshing now, scoring at least ``min_score``, best first; titles lane 2
    refreshed within 7 days, and those in ``leave_out`` (media, TMDB id), are left out. Reads only: ranking twice
    ranks the same."""
    now = now or utc_now()
    left_out = sorted(leave_out)
    kinds, weights = zip(*EVENT_WEIGHTS.items(), strict=True)
    windows, trending_weights = zip(*TRENDING_WEIGHTS.items(), strict=True)
    with db.connect() as conn:
        rows = conn.execute(
            """
            WITH demand AS (
                SELECT e.media, e.tmdb_id,
                       sum(w.weight * power(0.5, extract(epoch FROM %(now)s - e.occurred_at) / %(half_life)s)) AS demand
                FROM title_events AS e JOIN unnest(%(kinds)s::text[], %(weights)s::float8[]) AS w(kind, weight)
                     USING (kind)
                WHERE e.occurred_at > %(now)s - %(window)s AND e.occurred_at <= %(now)s
                GROUP BY e.media, e.tmdb_id),
            list_lengths AS (SELECT time_window, max(rank) AS length FROM trending_titles GROUP BY time_window),
            trending AS (
                SELECT t.media, t.tmdb_id, max(t.popularity) AS popularity,
                       sum(w.weight * (1 - 2.0 / 3 * (t.rank - 1) / greatest(n.length - 1, 1))) AS trending
                FROM trending_titles AS t JOIN list_lengths AS n USING (time_window)
                     JOIN unnest(%(windows)s::text[], %(trending_weights)s::float8[]) AS w(time_window, weight)
                     USING (time_window)
                GROUP BY t.media, t.tmdb_id),
            candidates AS (
                SELECT media, tmdb_id, coalesce(d.demand, 0) AS demand, coalesce(t.trending, 0) AS trending,
                       t.popularity
                FROM demand AS d FULL JOIN trending AS t USING (media, tmdb_id)),
            scored AS (
                SELECT c.media, c.tmdb_id, c.demand, c.trending,
                       coalesce(c.popularity, m.popularity, s.popularity) AS popularity
                FROM candidates AS c
                LEFT JOIN movies AS m ON c.media = 'movie' AND m.tmdb_id = c.tmdb_id
                LEFT JOIN tv_shows AS s ON c.media = 'tv' AND s.tmdb_id = c.tmdb_id
                WHERE NOT EXISTS (SELECT 1 FROM priority_refreshes AS p
                                  WHERE p.media = c.media AND p.tmdb_id = c.tmdb_id
                                    AND p.refreshed_at > %(now)s - %(again_after)s)
                  AND NOT EXISTS (SELECT 1 FROM unnest(%(out_media)s::text[], %(out_ids)s::int[]) AS o(media, tmdb_id)
                                  WHERE o.media = c.media AND o.tmdb_id = c.tmdb_id)),
            ranked AS (
                SELECT media, tmdb_id,
                       demand + trending + least(coalesce(popularity, 0), %(scale)s) / %(scale)s AS score,
                       demand, trending, popularity
                FROM scored)
            SELECT * FROM ranked WHERE score >= %(min_score)s ORDER BY score DESC, media, tmdb_id LIMIT %(limit)s
            """,
            {"now": now, "half_life": DEMAND_HALF_LIFE.total_seconds(), "window": DEMAND_WINDOW, "kinds": list(kinds),
             "weights": list(weights), "windows": list(windows), "trending_weights": list(trending_weights),
             "again_after": REFRESH_AGAIN_AFTER, "out_media": [media for media, _ in left_out],
             "out_ids": [tmdb_id for _, tmdb_id in left_out], "scale": POPULARITY_SCALE, "limit": limit,
             "min_score": min_score},
        ).fetchall()
    return [RankedTitle(media, tmdb_id, float(score), float(demand), float(trending),
                        None if popularity is None else float(popularity))
            for media, tmdb_id, score, demand, trending, popularity in rows]


def mark_refreshed(db: ServingDb, keys: Sequence[tuple[str, int]], *, now: datetime | None = None) -> None:
    """Lane 2 fetched these titles' TMDB details now: they are not asked for again within 7 days."""
    with db.connect() as conn:
        conn.execute(
            """INSERT INTO priority_refreshes (media, tmdb_id, refreshed_at)
               SELECT media, tmdb_id, %s FROM unnest(%s::text[], %s::int[]) AS k(media, tmdb_id)
               ON CONFLICT (media, tmdb_id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at""",
            (now or utc_now(), [media for media, _ in keys], [tmdb_id for _, tmdb_id in keys]),
        )


def store_trending(db: ServingDb, lists: dict[tuple[str, str], list[tuple[int, float | None]]]) -> int:
    """Replace the trending lists: (media, window) -> [(tmdb_id, popularity)] in rank order."""
    rows = []
    for (media, window), items in lists.items():
        ranked = dict.fromkeys(tmdb_id for tmdb_id, _ in items)  # a title listed twice keeps its first rank
        popularity = {tmdb_id: value for tmdb_id, value in reversed(items)}
        rows += [(media, tmdb_id, window, rank, popularity[tmdb_id]) for rank, tmdb_id in enumerate(ranked, start=1)]
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM trending_titles")
        with cur.copy("COPY trending_titles (media, tmdb_id, time_window, rank, popularity) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)
