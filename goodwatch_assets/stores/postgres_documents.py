"""The document store on PostgreSQL JSONB (``raw.documents``), used when ``MONGODB_URI`` is unset.

Bulk writes go through COPY into a temporary table and one set-based ``INSERT … ON CONFLICT``
per batch. Reservations use ``FOR UPDATE SKIP LOCKED`` so concurrent runs never take the same
title. The change feed reads ``change_xid`` below the oldest running transaction, so a write that
commits after a reader passed never hides behind the reader's watermark.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from goodwatch_assets.models.queue import (
    NOT_DUE_STATUSES,
    DocumentKey,
    FetchedDocument,
    QueueEntry,
    Reservation,
    RetryPolicy,
    Status,
    StoredDocument,
)
from goodwatch_assets.models.shards import shard_column, shard_of
from goodwatch_assets.stores.documents import (
    DOCUMENT_FRAME,
    ENTRY_FRAME,
    HINTS_FRAME,
    KEY_FRAME,
    NEGATIVE_STATUSES,
    QUEUED_FRAME,
    CatalogSync,
    ChangeFeed,
    DocumentStore,
    UpsertOutcome,
    body_bytes,
    canonical_json,
    check_hints,
    check_lease,
    check_media,
    check_source,
    checked_frame,
    chunked,
    json_text,
    last_per_key,
    validated,
)
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets.stores.staging import stage_frame, stage_rows

_COLUMNS = (
    "source, media, tmdb_id, shard, popularity, hints, payload, record, payload_hash, source_url, status, "
    "attempts, error, quarantine_body, next_attempt_at, reserved_until, fetched_at, changed_at"
)
_NOT_DUE = tuple(str(s) for s in NOT_DUE_STATUSES)
_NEGATIVE = ", ".join(f"'{status}'" for status in NEGATIVE_STATUSES)
# Memory for the hash joins of one bulk write (a million staged rows), for its transaction only.
_BULK_WORK_MEM = "SET LOCAL work_mem = '256MB'"
_ENTRY_COLUMNS = "media text, tmdb_id integer, shard smallint, popularity double precision, hints jsonb"
# The change hash is computed by PostgreSQL from the stored JSONB (one canonical text whoever wrote it).
_PAYLOAD_HASH = "md5(payload::text)"
_PAYLOAD_HASH_OF_S = "md5(s.payload::text)"


def _merge_entries(cur: psycopg.Cursor, source: str) -> int:
    """Merge ``staging_entries`` into the source's queue: known titles get their popularity and hints refreshed
    (only where they differ) and DELETED ones are revived; then new titles are inserted. Returns how many were new."""
    params = {"source": source}

    def update() -> int:
        cur.execute(
            """
            UPDATE raw.documents AS d SET
                popularity = coalesce(s.popularity, d.popularity),
                hints = d.hints || s.hints,
                status = CASE WHEN d.status <> 'deleted' THEN d.status
                              WHEN d.fetched_at IS NULL THEN 'pending'
                              WHEN d.payload IS NULL THEN 'not_found' ELSE 'ok' END
            FROM staging_entries AS s
            WHERE d.source = %(source)s AND d.media = s.media AND d.tmdb_id = s.tmdb_id
              AND (d.popularity IS DISTINCT FROM coalesce(s.popularity, d.popularity)
                   OR d.hints IS DISTINCT FROM d.hints || s.hints OR d.status = 'deleted')
            """,
            params,
        )
        return cur.rowcount

    return _update_then_insert(
        cur, update,
        """
        INSERT INTO raw.documents (source, media, tmdb_id, shard, popularity, hints)
        SELECT %(source)s, s.media, s.tmdb_id, s.shard, s.popularity, s.hints FROM staging_entries AS s
        WHERE NOT EXISTS (SELECT 1 FROM raw.documents AS d
                          WHERE d.source = %(source)s AND d.media = s.media AND d.tmdb_id = s.tmdb_id)
        """,
        params,
    )[1]


def _update_then_insert(cur: psycopg.Cursor, update: Callable[[], int], insert: str, params: dict[str, Any]
                        ) -> tuple[int, int]:
    """Merge staged rows: ``update`` the known ones (returns a count), then an anti-join ``insert`` of the new
    ones. Returns (updated, inserted).

    A plain INSERT is a third faster than ``ON CONFLICT`` at a million rows. Should another writer insert one
    of the same keys meanwhile, the INSERT is undone to a savepoint, run again with ``ON CONFLICT DO NOTHING``,
    and ``update`` run once more, so those titles get this write's values too.
    """
    updated = update()
    try:
        with cur.connection.transaction():
            cur.execute(insert, params)
        return updated, cur.rowcount
    except psycopg.errors.UniqueViolation:
        cur.execute(insert + " ON CONFLICT DO NOTHING", params)
        inserted = cur.rowcount
        return updated + update(), inserted


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
                (check_media(e.media), e.tmdb_id, shard_of(e.tmdb_id), e.popularity, json_text(check_hints(e.hints)))
                for e in last_per_key(batch)
            ]
            with self._conn.transaction(), self._conn.cursor() as cur:
                stage_rows(cur, "staging_entries", _ENTRY_COLUMNS, rows)
                new += _merge_entries(cur, source)
        return new

    def sync_catalog(self, source: str, media: str, frame: pl.DataFrame) -> CatalogSync:
        check_source(source)
        frame = checked_frame(frame.with_columns(media=pl.lit(check_media(media))), ENTRY_FRAME)
        staged = frame.select("media", "tmdb_id", shard_column(pl.col("tmdb_id")), "popularity",
                              pl.col("hints").fill_null("{}"))
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_BULK_WORK_MEM)
            stage_frame(cur, "staging_entries", _ENTRY_COLUMNS, staged)
            new = _merge_entries(cur, source)
            cur.execute(
                """UPDATE raw.documents AS d SET status = 'deleted', reserved_until = NULL
                   WHERE d.source = %s AND d.media = %s AND d.status <> 'deleted'
                     AND NOT EXISTS (SELECT 1 FROM staging_entries AS s WHERE s.tmdb_id = d.tmdb_id)""",
                (source, media),
            )
            return CatalogSync(new=new, deleted=cur.rowcount)

    def upsert(
        self, source: str, documents: Iterable[FetchedDocument], *, batch_size: int = 10_000
    ) -> UpsertOutcome:
        check_source(source)
        outcome = UpsertOutcome()
        for batch in chunked(documents, batch_size):
            now = self.clock()
            rows = []
            for d in validated(last_per_key(batch)):
                rows.append((
                    d.media, d.tmdb_id, shard_of(d.tmdb_id), d.popularity,
                    None if d.payload is None else canonical_json(d.payload).decode(),
                    None if d.record is None else canonical_json(d.record).decode(),
                    d.source_url, str(d.status), None if d.refresh_after is None else now + d.refresh_after,
                ))
            with self._conn.transaction(), self._conn.cursor() as cur:
                stage_rows(
                    cur, "staging_documents",
                    "media text, tmdb_id integer, shard smallint, popularity double precision, payload jsonb, "
                    "record jsonb, source_url text, status text, next_attempt_at timestamptz",
                    rows,
                )
                cur.execute(
                    f"""
                    WITH written AS (
                        INSERT INTO raw.documents AS d
                            (source, media, tmdb_id, shard, popularity, payload, record, payload_hash,
                             source_url, status, next_attempt_at, fetched_at, changed_at, change_xid)
                        SELECT %(source)s, media, tmdb_id, shard, popularity, payload, record, {_PAYLOAD_HASH},
                               source_url, status, next_attempt_at, %(now)s, now(), pg_current_xact_id()
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
                            next_attempt_at = EXCLUDED.next_attempt_at, reserved_until = NULL
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

    def upsert_frame(self, source: str, frame: pl.DataFrame) -> UpsertOutcome:
        check_source(source)
        frame = checked_frame(frame, DOCUMENT_FRAME)
        staged = frame.select("media", "tmdb_id", shard_column(pl.col("tmdb_id")), "payload", "record", "status")
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_BULK_WORK_MEM)
            stage_frame(cur, "staging_frame", "media text, tmdb_id integer, shard smallint, payload jsonb, "
                         "record jsonb, status text", staged)
            # Changed documents first (a set-based join), then the new ones; unchanged rows are not touched.
            params = {"source": source, "now": self.clock()}

            def update() -> int:
                cur.execute(
                    f"""
                    WITH written AS (
                        UPDATE raw.documents AS d SET
                            changed_at = CASE WHEN d.payload_hash IS DISTINCT FROM {_PAYLOAD_HASH_OF_S}
                                              THEN now() ELSE d.changed_at END,
                            change_xid = CASE WHEN d.payload_hash IS DISTINCT FROM {_PAYLOAD_HASH_OF_S}
                                              THEN pg_current_xact_id() ELSE d.change_xid END,
                            payload = s.payload, record = s.record, payload_hash = {_PAYLOAD_HASH_OF_S},
                            status = s.status, source_url = NULL, fetched_at = %(now)s, attempts = 0, error = NULL,
                            quarantine_body = NULL, next_attempt_at = NULL, reserved_until = NULL
                        FROM staging_frame AS s
                        WHERE d.source = %(source)s AND d.media = s.media AND d.tmdb_id = s.tmdb_id
                          AND (d.payload_hash IS DISTINCT FROM {_PAYLOAD_HASH_OF_S}
                               OR d.record IS DISTINCT FROM s.record OR d.status <> s.status)
                        RETURNING d.change_xid = pg_current_xact_id() AS payload_changed)
                    SELECT count(*) FILTER (WHERE payload_changed) FROM written
                    """,
                    params,
                )
                return cur.fetchone()[0]

            changed, inserted = _update_then_insert(
                cur, update,
                f"""
                INSERT INTO raw.documents (source, media, tmdb_id, shard, payload, record, payload_hash, status,
                                           fetched_at, changed_at, change_xid)
                SELECT %(source)s, s.media, s.tmdb_id, s.shard, s.payload, s.record, {_PAYLOAD_HASH_OF_S}, s.status,
                       %(now)s, now(), pg_current_xact_id()
                FROM staging_frame AS s
                WHERE NOT EXISTS (SELECT 1 FROM raw.documents AS d
                                  WHERE d.source = %(source)s AND d.media = s.media AND d.tmdb_id = s.tmdb_id)
                """,
                params,
            )
        # A record-only change (same payload) counts as unchanged, as in upsert: the payload is what changed_at follows.
        return UpsertOutcome(inserted, changed, frame.height - inserted - changed)

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

    def changed_keys(self, source: str, since: str | None, *, media: str, shard: int) -> tuple[str, pl.DataFrame]:
        check_source(source)
        with _PostgresChangeFeed(self._db, source, since, check_media(media), shard) as feed:
            return feed.watermark, feed.keys()

    def relation_in(self, db: ServingDb) -> tuple[str, ...] | None:
        return ("raw", "documents") if db.url == self._db.url else None

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
            ids = pl.Series("tmdb_id", present, dtype=pl.Int64).unique().to_frame()
            stage_frame(cur, "present_ids", "tmdb_id integer PRIMARY KEY", ids)
            cur.execute(
                """UPDATE raw.documents AS d SET status = 'deleted', reserved_until = NULL
                   WHERE d.source = %s AND d.media = %s AND d.status <> 'deleted'
                     AND NOT EXISTS (SELECT 1 FROM present_ids p WHERE p.tmdb_id = d.tmdb_id)""",
                (source, media),
            )
            return cur.rowcount

    def field_values(self, source: str, field: str, *, media: str | None = None,
                     shard: int | None = None) -> pl.DataFrame:
        check_source(source)
        # COPY out as CSV, read by polars: a million values without a Python object per row.
        buffer = io.BytesIO()
        with self._conn.transaction(), self._conn.cursor() as cur:
            query = sql.SQL(
                "COPY (SELECT media, tmdb_id, record ->> {field} FROM raw.documents "
                "WHERE source = {source} AND record ->> {field} IS NOT NULL"
                " AND ({media}::text IS NULL OR media = {media}) AND ({shard}::int IS NULL OR shard = {shard})"
                ") TO STDOUT (FORMAT csv)"
            ).format(field=sql.Literal(field), source=sql.Literal(source), media=sql.Literal(media),
                     shard=sql.Literal(shard))
            with cur.copy(query) as copy:
                for chunk in copy:
                    buffer.write(chunk)
        schema = {"media": pl.String, "tmdb_id": pl.Int64, "value": pl.String}
        if not buffer.getbuffer().nbytes:
            return pl.DataFrame(schema=schema)
        return pl.read_csv(buffer.getvalue(), has_header=False, new_columns=list(schema), schema_overrides=schema)

    def fetch_ages(self, source: str, quantiles: Sequence[float] = (0.5, 0.9, 1.0), *, media: str | None = None,
                   shard: int | None = None) -> dict[float, timedelta | None]:
        check_source(source)
        with self._conn.transaction():
            row = self._conn.execute(
                """SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY fetched_at DESC)
                   FROM raw.documents WHERE source = %s AND fetched_at IS NOT NULL
                     AND (%s::text IS NULL OR media = %s) AND (%s::int IS NULL OR shard = %s)""",
                (list(quantiles), source, media, media, shard, shard),
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
        only: Sequence[int] | None = None,
    ) -> list[Reservation]:
        check_source(source)
        check_media(media)
        check_lease(lease)
        now = self.clock()
        params = {
            "source": source, "media": media, "shard": shard, "now": now, "until": now + lease,
            "stale_before": now - refresh_age, "not_due": list(_NOT_DUE), "only": None if only is None else list(only),
        }
        # Never fetched (most popular first), then due again (least recently fetched first): at the date the last
        # fetch set, or else once older than the refresh age. Each is one statement: rows another transaction
        # holds are skipped, rows it already reserved fail the re-checked WHERE, so no title is handed out twice.
        lanes = (
            ("fetched_at IS NULL", "popularity DESC NULLS LAST, tmdb_id"),
            ("fetched_at IS NOT NULL AND (next_attempt_at IS NOT NULL OR fetched_at < %(stale_before)s)",
             "fetched_at, tmdb_id"),
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
                          AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s
                               OR (%(only)s::int[] IS NOT NULL AND status = 'ok'))
                          AND (%(only)s::int[] IS NULL OR tmdb_id = ANY(%(only)s::int[]))
                          AND {condition}
                        ORDER BY {order}
                        LIMIT %(limit)s
                        FOR UPDATE SKIP LOCKED),
                    taken AS (
                        UPDATE raw.documents AS d SET reserved_until = %(until)s
                        FROM due
                        WHERE d.source = %(source)s AND d.media = due.media AND d.tmdb_id = due.tmdb_id
                        RETURNING d.media, d.tmdb_id, d.popularity, d.hints, d.attempts, d.fetched_at,
                                  d.reserved_until,
                                  CASE WHEN d.status NOT IN ({_NEGATIVE}) THEN d.source_url END AS verified_url)
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


    # -- page-finding sources --------------------------------------------------------------

    def queued(self, source: str, *, media: str, shard: int | None = None) -> pl.DataFrame:
        check_source(source)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                """SELECT media, tmdb_id, status, hints::text FROM raw.documents
                   WHERE source = %s AND media = %s AND (%s::smallint IS NULL OR shard = %s) AND status <> 'deleted'
                   ORDER BY tmdb_id""",
                (source, check_media(media), shard, shard),
            )
            return pl.DataFrame(cur.fetchall(), schema=QUEUED_FRAME, orient="row")

    def merge_hints(self, source: str, frame: pl.DataFrame) -> int:
        check_source(source)
        frame = checked_frame(frame, HINTS_FRAME)
        staged = frame.select("media", "tmdb_id", shard_column(pl.col("tmdb_id")), pl.lit(None, pl.Float64),
                              pl.col("hints").fill_null("{}"))
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_BULK_WORK_MEM)
            stage_frame(cur, "staging_entries", _ENTRY_COLUMNS, staged)
            cur.execute(
                f"""UPDATE raw.documents AS d SET
                        hints = d.hints || s.hints,
                        next_attempt_at = CASE WHEN d.status IN ({_NEGATIVE}) THEN %(now)s ELSE d.next_attempt_at END
                    FROM staging_entries AS s
                    WHERE d.source = %(source)s AND d.media = s.media AND d.tmdb_id = s.tmdb_id
                      AND d.hints IS DISTINCT FROM d.hints || s.hints""",
                {"source": source, "now": self.clock()},
            )
            return cur.rowcount

    def make_due(self, source: str, keys: Iterable[DocumentKey]) -> int:
        check_source(source)
        keys = list(keys)
        if not keys:
            return 0
        medias, ids = zip(*keys, strict=True)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                """UPDATE raw.documents SET next_attempt_at = %s
                   WHERE source = %s AND fetched_at IS NOT NULL AND status IN ('ok', 'not_found', 'duplicate')
                     AND (media, tmdb_id) IN (SELECT * FROM unnest(%s::text[], %s::int[]))""",
                (self.clock(), source, list(medias), list(ids)),
            )
            return cur.rowcount

    def holders(self, source: str, urls: Iterable[str]) -> dict[str, list[StoredDocument]]:
        check_source(source)
        urls = sorted(set(urls))
        if not urls:
            return {}
        held: dict[str, list[StoredDocument]] = {}
        with self._conn.transaction(), self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"""SELECT {_COLUMNS} FROM raw.documents
                    WHERE source = %s AND status = 'ok' AND source_url = ANY(%s::text[]) ORDER BY media, tmdb_id""",
                (source, urls),
            )
            for row in cur:
                held.setdefault(row["source_url"], []).append(_document(row))
        return held

    def mark_duplicates(self, source: str, url: str, losers: Iterable[DocumentKey], holder: DocumentKey, *,
                        until: datetime) -> int:
        check_source(source)
        losers = list(losers)
        if not losers:
            return 0
        medias, ids = zip(*losers, strict=True)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                """UPDATE raw.documents AS d SET
                        status = 'duplicate', payload = NULL, payload_hash = NULL,
                        record = jsonb_build_object('duplicate_of', %(holder)s::jsonb, 'url', d.source_url,
                                                    'evidence', d.record -> 'evidence',
                                                    'match_confidence', d.record -> 'match_confidence'),
                        next_attempt_at = %(until)s, changed_at = now(), change_xid = pg_current_xact_id()
                    WHERE d.source = %(source)s AND d.status = 'ok' AND d.source_url = %(url)s
                      AND (d.media, d.tmdb_id) IN (SELECT * FROM unnest(%(medias)s::text[], %(ids)s::int[]))""",
                {"source": source, "url": url, "until": until, "holder": json_text(list(holder)),
                 "medias": list(medias), "ids": list(ids)},
            )
            return cur.rowcount


class _PostgresChangeFeed(ChangeFeed):
    """A read-only REPEATABLE READ transaction: the watermark and the rows come from one snapshot."""

    def __init__(self, db: ServingDb, source: str, since: str | None, media: str | None, shard: int | None,
                 batch_size: int = 5_000):
        self._conn = db.connect()
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        self._batch_size = batch_size
        self._params = {"source": source, "since": since, "media": media, "shard": shard}
        # Every transaction below the snapshot's xmin has finished; later ones are read next time.
        self.watermark = str(self._conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())").fetchone()[0])
        self._params["horizon"] = self.watermark

    _CHANGED = """FROM raw.documents WHERE source = %(source)s AND change_xid < %(horizon)s::xid8
                  AND (%(since)s::xid8 IS NULL OR change_xid >= %(since)s::xid8)
                  AND (%(media)s::text IS NULL OR media = %(media)s)
                  AND (%(shard)s::int IS NULL OR shard = %(shard)s)"""

    def batches(self) -> Iterator[list[StoredDocument]]:
        with self._conn.cursor(name="change_feed", row_factory=dict_row) as cur:
            cur.itersize = self._batch_size
            cur.execute(f"SELECT {_COLUMNS} {self._CHANGED} ORDER BY change_xid, media, tmdb_id", self._params)
            while rows := cur.fetchmany(self._batch_size):
                yield [_document(row) for row in rows]

    def keys(self) -> pl.DataFrame:
        """The changed documents' keys alone (a :data:`KEY_FRAME`)."""
        rows = self._conn.execute(f"SELECT media, tmdb_id {self._CHANGED}", self._params).fetchall()
        return pl.DataFrame(rows, schema=KEY_FRAME, orient="row")

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()
