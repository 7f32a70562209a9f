"""The document store on PostgreSQL JSONB (``raw.documents``), used when ``MONGODB_URI`` is unset.

Bulk writes go through COPY into a temporary table and one set-based ``INSERT … ON CONFLICT``
per batch. Reservations use ``FOR UPDATE SKIP LOCKED`` so concurrent runs never take the same
title. The change feed reads ``change_xid`` below the oldest running transaction, so a write that
commits after a reader passed never hides behind the reader's watermark.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from goodwatch_assets.shards import shard_of
from goodwatch_assets.stores.documents import (
    NOT_DUE_STATUSES,
    ChangeFeed,
    DocumentKey,
    DocumentStore,
    FetchedDocument,
    QueueEntry,
    Reservation,
    RetryPolicy,
    Status,
    StoredDocument,
    UpsertOutcome,
    body_bytes,
    canonical_json,
    check_hints,
    check_lease,
    check_media,
    check_source,
    chunked,
    json_hash,
    last_per_key,
    validated,
)
from goodwatch_assets.stores.serving_db import ServingDb

_COLUMNS = (
    "source, media, tmdb_id, shard, popularity, hints, payload, record, payload_hash, source_url, status, "
    "attempts, error, quarantine_body, next_attempt_at, reserved_until, fetched_at, changed_at"
)
_NOT_DUE = tuple(str(s) for s in NOT_DUE_STATUSES)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _stage(cur: psycopg.Cursor, table: str, columns: str, rows: list[tuple]) -> None:
    """COPY rows into a temporary table emptied at commit (the input of one set-based merge)."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
    with cur.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _document(row: dict[str, Any]) -> StoredDocument:
    return StoredDocument(**{**row, "status": Status(row["status"])})


class PostgresDocumentStore(DocumentStore):
    backend = "postgres"

    def __init__(self, db: ServingDb):
        self._db = db
        self._conn = db.connect()

    def close(self) -> None:
        self._conn.close()

    # -- writes ------------------------------------------------------------------------------

    def enqueue(self, source: str, entries: Iterable[QueueEntry], *, batch_size: int = 10_000) -> int:
        check_source(source)
        new = 0
        for batch in chunked(entries, batch_size):
            rows = [
                (check_media(e.media), e.tmdb_id, shard_of(e.tmdb_id), e.popularity, _json(check_hints(e.hints)))
                for e in last_per_key(batch)
            ]
            with self._conn.transaction(), self._conn.cursor() as cur:
                _stage(
                    cur, "staging_entries",
                    "media text, tmdb_id integer, shard smallint, popularity double precision, hints jsonb", rows,
                )
                cur.execute(
                    """
                    WITH written AS (
                        INSERT INTO raw.documents AS d (source, media, tmdb_id, shard, popularity, hints)
                        SELECT %(source)s, media, tmdb_id, shard, popularity, hints FROM staging_entries
                        ON CONFLICT (source, media, tmdb_id) DO UPDATE
                           SET popularity = coalesce(EXCLUDED.popularity, d.popularity),
                               hints = d.hints || EXCLUDED.hints
                        RETURNING (xmax = 0) AS inserted)
                    SELECT count(*) FILTER (WHERE inserted) FROM written
                    """,
                    {"source": source},
                )
                new += cur.fetchone()[0]
        return new

    def upsert(
        self, source: str, documents: Iterable[FetchedDocument], *, batch_size: int = 10_000
    ) -> UpsertOutcome:
        check_source(source)
        outcome = UpsertOutcome()
        for batch in chunked(documents, batch_size):
            now = self.clock()
            rows = []
            for d in validated(last_per_key(batch)):
                payload = canonical_json(d.payload)  # serialized once: stored text and change hash
                rows.append((
                    d.media, d.tmdb_id, shard_of(d.tmdb_id), d.popularity,
                    None if d.payload is None else payload.decode(),
                    None if d.record is None else canonical_json(d.record).decode(),
                    json_hash(payload), d.source_url, str(d.status),
                ))
            with self._conn.transaction(), self._conn.cursor() as cur:
                _stage(
                    cur, "staging_documents",
                    "media text, tmdb_id integer, shard smallint, popularity double precision, payload jsonb, "
                    "record jsonb, payload_hash text, source_url text, status text",
                    rows,
                )
                cur.execute(
                    """
                    WITH written AS (
                        INSERT INTO raw.documents AS d
                            (source, media, tmdb_id, shard, popularity, payload, record, payload_hash,
                             source_url, status, fetched_at, changed_at, change_xid)
                        SELECT %(source)s, media, tmdb_id, shard, popularity, payload, record, payload_hash,
                               source_url, status, %(now)s, now(), pg_current_xact_id()
                        FROM staging_documents
                        ON CONFLICT (source, media, tmdb_id) DO UPDATE SET
                            changed_at = CASE WHEN d.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash
                                              THEN EXCLUDED.changed_at ELSE d.changed_at END,
                            change_xid = CASE WHEN d.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash
                                              THEN EXCLUDED.change_xid ELSE d.change_xid END,
                            payload = EXCLUDED.payload,
                            record = EXCLUDED.record,
                            payload_hash = EXCLUDED.payload_hash,
                            source_url = EXCLUDED.source_url,
                            status = EXCLUDED.status,
                            popularity = coalesce(EXCLUDED.popularity, d.popularity),
                            fetched_at = EXCLUDED.fetched_at,
                            attempts = 0, error = NULL, quarantine_body = NULL,
                            next_attempt_at = NULL, reserved_until = NULL
                        RETURNING (xmax = 0) AS inserted, change_xid = pg_current_xact_id() AS changed)
                    SELECT count(*) FILTER (WHERE inserted),
                           count(*) FILTER (WHERE changed AND NOT inserted),
                           count(*) FILTER (WHERE NOT changed)
                    FROM written
                    """,
                    {"source": source, "now": now},
                )
                inserted, changed, unchanged = cur.fetchone()
            outcome += UpsertOutcome(inserted, changed, unchanged)
        return outcome

    # -- reads -------------------------------------------------------------------------------

    def get_many(self, source: str, keys: Iterable[DocumentKey]) -> dict[DocumentKey, StoredDocument]:
        check_source(source)
        keys = list(keys)
        if not keys:
            return {}
        medias, ids = zip(*keys, strict=True)
        with self._conn.transaction(), self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"""SELECT {_COLUMNS} FROM raw.documents
                    WHERE source = %s AND (media, tmdb_id) IN (SELECT * FROM unnest(%s::text[], %s::int[]))""",
                (source, list(medias), list(ids)),
            )
            return {(row["media"], row["tmdb_id"]): _document(row) for row in cur}

    def changes(
        self,
        source: str,
        since: str | None,
        *,
        media: str | None = None,
        shard: int | None = None,
        batch_size: int = 5_000,
    ) -> ChangeFeed:
        check_source(source)
        return _PostgresChangeFeed(self._db, source, since, media, shard, batch_size)

    def count_by_status(self, source: str, *, media: str | None = None, shard: int | None = None) -> dict[str, int]:
        check_source(source)
        with self._conn.transaction():
            rows = self._conn.execute(
                """SELECT status, count(*) FROM raw.documents
                   WHERE source = %s AND (%s::text IS NULL OR media = %s) AND (%s::int IS NULL OR shard = %s)
                   GROUP BY status""",
                (source, media, media, shard, shard),
            ).fetchall()
        return dict(rows)

    def mark_deleted_except(self, source: str, media: str, present: Iterable[int]) -> int:
        check_source(source)
        check_media(media)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS present_ids (tmdb_id integer PRIMARY KEY) ON COMMIT DELETE ROWS")
            with cur.copy("COPY present_ids FROM STDIN") as copy:
                for tmdb_id in set(present):
                    copy.write_row((tmdb_id,))
            cur.execute(
                """UPDATE raw.documents AS d SET status = 'deleted', reserved_until = NULL
                   WHERE d.source = %s AND d.media = %s AND d.status <> 'deleted'
                     AND NOT EXISTS (SELECT 1 FROM present_ids p WHERE p.tmdb_id = d.tmdb_id)""",
                (source, media),
            )
            return cur.rowcount

    def field_values(self, source: str, field: str) -> Iterator[tuple[str, int, Any]]:
        check_source(source)
        with self._db.connect() as conn, conn.cursor(name="field_values") as cur:
            cur.itersize = 50_000
            cur.execute(
                "SELECT media, tmdb_id, record -> %s FROM raw.documents "
                "WHERE source = %s AND record ->> %s IS NOT NULL",
                (field, source, field),
            )
            yield from cur

    def fetch_ages(self, source: str, quantiles: Sequence[float] = (0.5, 0.9, 1.0)) -> dict[float, timedelta | None]:
        check_source(source)
        with self._conn.transaction():
            row = self._conn.execute(
                """SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY fetched_at DESC)
                   FROM raw.documents WHERE source = %s AND fetched_at IS NOT NULL""",
                (list(quantiles), source),
            ).fetchone()
        now = self.clock()
        values = row[0] or [None] * len(quantiles)
        return {q: (now - v if v else None) for q, v in zip(quantiles, values, strict=True)}

    def sources(self) -> list[str]:
        with self._conn.transaction():
            # A loose index scan: one probe per distinct source instead of reading every row.
            rows = self._conn.execute(
                """WITH RECURSIVE s AS (
                       (SELECT source FROM raw.documents ORDER BY source LIMIT 1)
                       UNION ALL
                       SELECT (SELECT source FROM raw.documents WHERE source > s.source ORDER BY source LIMIT 1)
                       FROM s WHERE s.source IS NOT NULL)
                   SELECT source FROM s WHERE source IS NOT NULL"""
            ).fetchall()
        return [row[0] for row in rows]

    # -- the work queue ----------------------------------------------------------------------

    def reserve(
        self,
        source: str,
        *,
        media: str,
        shard: int,
        limit: int,
        refresh_age: timedelta,
        lease: timedelta,
    ) -> list[Reservation]:
        check_source(source)
        check_media(media)
        check_lease(lease)
        now = self.clock()
        params = {
            "source": source, "media": media, "shard": shard, "now": now, "until": now + lease,
            "stale_before": now - refresh_age, "not_due": list(_NOT_DUE),
        }
        # Never fetched (most popular first), then stale (least recently fetched first). Each is
        # one statement: rows another transaction holds are skipped, rows it already reserved
        # fail the re-checked WHERE, so no title is handed out twice.
        lanes = (
            ("fetched_at IS NULL", "popularity DESC NULLS LAST, tmdb_id"),
            ("fetched_at < %(stale_before)s", "fetched_at, tmdb_id"),
        )
        taken: list[Reservation] = []
        with self._conn.transaction(), self._conn.cursor(row_factory=dict_row) as cur:
            for condition, order in lanes:
                if len(taken) >= limit:
                    break
                cur.execute(
                    f"""
                    WITH due AS (
                        SELECT media, tmdb_id FROM raw.documents
                        WHERE source = %(source)s AND media = %(media)s AND shard = %(shard)s
                          AND status <> ALL(%(not_due)s)
                          AND (reserved_until IS NULL OR reserved_until <= %(now)s)
                          AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
                          AND {condition}
                        ORDER BY {order}
                        LIMIT %(limit)s
                        FOR UPDATE SKIP LOCKED),
                    taken AS (
                        UPDATE raw.documents AS d SET reserved_until = %(until)s
                        FROM due
                        WHERE d.source = %(source)s AND d.media = due.media AND d.tmdb_id = due.tmdb_id
                        RETURNING d.media, d.tmdb_id, d.popularity, d.hints, d.attempts, d.fetched_at,
                                  d.reserved_until)
                    SELECT * FROM taken ORDER BY {order}
                    """,
                    {**params, "limit": limit - len(taken)},
                )
                taken.extend(Reservation(**row) for row in cur.fetchall())
        return taken

    def release(self, source: str, keys: Iterable[DocumentKey]) -> int:
        check_source(source)
        keys = list(keys)
        if not keys:
            return 0
        medias, ids = zip(*keys, strict=True)
        with self._conn.transaction():
            cur = self._conn.execute(
                """UPDATE raw.documents SET reserved_until = NULL
                   WHERE source = %s AND (media, tmdb_id) IN (SELECT * FROM unnest(%s::text[], %s::int[]))""",
                (source, list(medias), list(ids)),
            )
            return cur.rowcount

    def fail(self, source: str, key: DocumentKey, error: str, *, policy: RetryPolicy,
             raw_body: str | bytes | None = None) -> Status:
        check_source(source)
        media, tmdb_id = key
        now = self.clock()
        with self._conn.transaction():
            row = self._conn.execute(
                "SELECT attempts FROM raw.documents WHERE source = %s AND media = %s AND tmdb_id = %s FOR UPDATE",
                (source, media, tmdb_id),
            ).fetchone()
            if row is None:
                raise KeyError(f"{source}: no document for {media} {tmdb_id}")
            attempts = row[0] + 1
            retry_at = policy.next_attempt_at(attempts, now)
            status = Status.FAILED if retry_at else Status.QUARANTINED
            self._conn.execute(
                """UPDATE raw.documents
                   SET attempts = %s, error = %s, status = %s, next_attempt_at = %s, reserved_until = NULL,
                       quarantine_body = coalesce(%s, quarantine_body)
                   WHERE source = %s AND media = %s AND tmdb_id = %s""",
                (attempts, error, str(status), retry_at, body_bytes(raw_body), source, media, tmdb_id),
            )
        return status

    def quarantine(self, source: str, key: DocumentKey, reason: str, raw_body: str | bytes | None) -> None:
        check_source(source)
        media, tmdb_id = key
        with self._conn.transaction():
            self._conn.execute(
                """INSERT INTO raw.documents AS d
                       (source, media, tmdb_id, shard, status, error, quarantine_body, attempts)
                   VALUES (%(source)s, %(media)s, %(tmdb_id)s, %(shard)s, 'quarantined', %(reason)s, %(body)s, 1)
                   ON CONFLICT (source, media, tmdb_id) DO UPDATE
                   SET status = 'quarantined', error = EXCLUDED.error, quarantine_body = EXCLUDED.quarantine_body,
                       attempts = d.attempts + 1, next_attempt_at = NULL, reserved_until = NULL""",
                {
                    "source": source, "media": check_media(media), "tmdb_id": tmdb_id,
                    "shard": shard_of(tmdb_id), "reason": reason, "body": body_bytes(raw_body),
                },
            )


class _PostgresChangeFeed(ChangeFeed):
    """A read-only REPEATABLE READ transaction: the watermark and the rows come from one snapshot."""

    def __init__(self, db: ServingDb, source: str, since: str | None, media: str | None, shard: int | None,
                 batch_size: int):
        self._conn = db.connect()
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        self._batch_size = batch_size
        self._params = {"source": source, "since": since, "media": media, "shard": shard}
        # Every transaction below the snapshot's xmin has finished; later ones are read next time.
        self.watermark = str(self._conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()[0])
        self._params["horizon"] = self.watermark

    def batches(self) -> Iterator[list[StoredDocument]]:
        with self._conn.cursor(name="change_feed", row_factory=dict_row) as cur:
            cur.itersize = self._batch_size
            cur.execute(
                f"""SELECT {_COLUMNS} FROM raw.documents
                    WHERE source = %(source)s AND change_xid < %(horizon)s::xid8
                      AND (%(since)s::xid8 IS NULL OR change_xid >= %(since)s::xid8)
                      AND (%(media)s::text IS NULL OR media = %(media)s)
                      AND (%(shard)s::int IS NULL OR shard = %(shard)s)
                    ORDER BY change_xid, media, tmdb_id""",
                self._params,
            )
            while rows := cur.fetchmany(self._batch_size):
                yield [_document(row) for row in rows]

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()
