"""The document store on PostgreSQL JSONB (``raw.documents``), used when ``MONGODB_URI`` is unset.

Bulk writes go through COPY into a temporary table and one set-based statement per batch: ``INSERT …
ON CONFLICT`` for fetched documents; for the whole-file paths (the queue's title lists, document frames, lookups)
one comparison of the staged rows with the stored ones that inserts the new rows and updates only those that
differ (by payload hash, record and status for documents), in data-modifying CTEs. Reservations use
``FOR UPDATE SKIP LOCKED`` so concurrent runs never take the same title. The change feed reads ``change_xid``
below the oldest running transaction, so a write that commits after a reader passed never hides behind the
reader's watermark.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    QuarantinedTitle,
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
    lookup_table,
    validated,
)
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets.stores.staging import stage_frame, stage_rows

_SQL_TYPES = {pl.String: "text", pl.Boolean: "boolean"}

_COLUMNS = (
    "source, media, tmdb_id, shard, popularity, hints, payload, record, payload_hash, source_url, status, "
    "attempts, error, quarantine_body, quarantine_url, quarantined_at, next_attempt_at, reserved_until, fetched_at, "
    "changed_at"
)
_NOT_DUE = tuple(str(s) for s in NOT_DUE_STATUSES)
_NEGATIVE = ", ".join(f"'{status}'" for status in NEGATIVE_STATUSES)
# For one bulk write's transaction only: memory for the hash joins of a million staged rows; a staging table's
# statistics from a sample of 3,000 rows instead of 30,000 (the joins need its size and key counts only); and no
# Memoize over a per-row LATERAL value (a cache of a million distinct payloads that never hits).
_BULK_SETTINGS = ("SET LOCAL work_mem = '256MB'; SET LOCAL default_statistics_target = 10; "
                  "SET LOCAL enable_memoize = off")
_ENTRY_COLUMNS = "media text, tmdb_id integer, shard smallint, popularity double precision, hints jsonb"
# The change hash is computed by PostgreSQL from the stored JSONB (one canonical text whoever wrote it). A value
# computed in a LATERAL subquery for several uses has OFFSET 0: a flattened subquery computes it at each use.
_PAYLOAD_HASH = "md5(payload::text)"
_PAYLOAD_HASH_OF_N = "md5(n.payload::text)"
# The status a title back in the queue (a DELETED one in the export again, a quarantined one requeued) gets: what it
# had before, by what it holds (see ``documents.revived_status``).
_REVIVED_STATUS = "CASE WHEN d.fetched_at IS NULL THEN 'pending' WHEN d.payload IS NULL THEN 'not_found' ELSE 'ok' END"


_ENTRY_CHANGES = f"""
    WITH stored AS (
        SELECT media, tmdb_id, popularity, hints, status FROM raw.documents
        WHERE source = %(source)s AND (%(media)s::text IS NULL OR media = %(media)s)
    ), compared AS MATERIALIZED (
        SELECT coalesce(s.media, d.media) AS media, coalesce(s.tmdb_id, d.tmdb_id) AS tmdb_id, s.shard, s.popularity,
               s.hints, CASE WHEN d.tmdb_id IS NULL THEN 'new' WHEN s.tmdb_id IS NULL THEN 'absent'
                             ELSE 'refreshed' END AS change
        FROM staging_entries AS s {{join}} stored AS d ON d.media = s.media AND d.tmdb_id = s.tmdb_id
        WHERE d.tmdb_id IS NULL
           OR (s.tmdb_id IS NULL AND d.status <> 'deleted')
           OR (s.tmdb_id IS NOT NULL AND (d.status = 'deleted'
               OR (s.popularity IS NOT NULL AND s.popularity IS DISTINCT FROM d.popularity)
               OR NOT (d.hints = s.hints OR d.hints = d.hints || s.hints)))
    ), inserted AS (
        INSERT INTO raw.documents (source, media, tmdb_id, shard, popularity, hints)
        SELECT %(source)s, media, tmdb_id, shard, popularity, hints FROM compared WHERE change = 'new'
        RETURNING 1
    ), refreshed AS (
        UPDATE raw.documents AS d SET
            popularity = coalesce(c.popularity, d.popularity),
            hints = d.hints || c.hints,
            status = CASE WHEN d.status <> 'deleted' THEN d.status ELSE {_REVIVED_STATUS} END
        FROM compared AS c
        WHERE c.change = 'refreshed' AND d.source = %(source)s AND d.media = c.media AND d.tmdb_id = c.tmdb_id
    ), deleted AS (
        UPDATE raw.documents AS d SET status = 'deleted', reserved_until = NULL
        FROM compared AS c
        WHERE c.change = 'absent' AND d.source = %(source)s AND d.media = c.media AND d.tmdb_id = c.tmdb_id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM deleted)
"""


def _merge_entries(cur: psycopg.Cursor, source: str, *, whole_list_of: str | None = None) -> CatalogSync:
    """Merge ``staging_entries`` into the source's queue in one statement, from one comparison of the staged and
    the stored entries: new titles inserted; known ones get their popularity and hints only where they differ,
    and DELETED ones are revived; unchanged rows are not written. With ``whole_list_of`` (a media type) the staged
    entries are that media's whole title list, and its stored titles absent from it are marked DELETED."""
    statement = _ENTRY_CHANGES.format(join="LEFT JOIN" if whole_list_of is None else "FULL JOIN")
    new, deleted = _run_merge(cur, statement, {"source": source, "media": whole_list_of})
    return CatalogSync(new=new, deleted=deleted)


def _run_merge(cur: psycopg.Cursor, statement: str | sql.Composable, params: dict[str, Any]) -> tuple:
    """Run a merge statement that inserts the titles it finds new, and return its row.

    Should another writer insert one of the same keys meanwhile, the statement is undone to a savepoint and run
    once more: its new snapshot sees those titles as known, so they get this write's values too.
    """
    try:
        with cur.connection.transaction():
            cur.execute(statement, params)
    except psycopg.errors.UniqueViolation:
        cur.execute(statement, params)
    return cur.fetchone()


_DOCUMENT_CHANGES = f"""
    WITH documents AS ({{documents}}), compared AS MATERIALIZED (
        SELECT n.media, n.tmdb_id, n.shard, n.payload, n.record, n.status, h.payload_hash,
               d.tmdb_id IS NOT NULL AS known, d.payload_hash IS DISTINCT FROM h.payload_hash AS payload_changed
        FROM documents AS n
        CROSS JOIN LATERAL (SELECT {_PAYLOAD_HASH_OF_N} AS payload_hash OFFSET 0) AS h
        LEFT JOIN raw.documents AS d ON d.source = %(source)s AND d.media = n.media AND d.tmdb_id = n.tmdb_id
        WHERE d.tmdb_id IS NULL OR d.status <> n.status OR d.payload_hash IS DISTINCT FROM h.payload_hash
           OR d.record IS DISTINCT FROM n.record
    ), inserted AS (
        INSERT INTO raw.documents (source, media, tmdb_id, shard, payload, record, payload_hash, status,
                                   fetched_at, changed_at, change_xid)
        SELECT %(source)s, media, tmdb_id, shard, payload, record, payload_hash, status,
               %(now)s, now(), pg_current_xact_id()
        FROM compared WHERE NOT known
        RETURNING 1
    ), updated AS (
        UPDATE raw.documents AS d SET
            changed_at = CASE WHEN c.payload_changed THEN now() ELSE d.changed_at END,
            change_xid = CASE WHEN c.payload_changed THEN pg_current_xact_id() ELSE d.change_xid END,
            payload = c.payload, record = c.record, payload_hash = c.payload_hash,
            status = c.status, source_url = NULL, fetched_at = %(now)s, attempts = 0, error = NULL,
            quarantine_body = NULL, quarantine_url = NULL, quarantined_at = NULL, next_attempt_at = NULL,
            reserved_until = NULL
        FROM compared AS c
        WHERE c.known AND d.source = %(source)s AND d.media = c.media AND d.tmdb_id = c.tmdb_id
        RETURNING c.payload_changed
    )
    SELECT ({{total}}), (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated WHERE payload_changed)
"""


def _write_documents(cur: psycopg.Cursor, source: str, documents: sql.Composable, total: sql.Composable,
                     params: dict[str, Any], now: datetime) -> UpsertOutcome:
    """Write the documents a query yields (``media, tmdb_id, shard, payload, record, status``) in one statement,
    from one comparison with the stored ones by payload hash, record and status: new documents inserted, changed
    ones rewritten (``changed_at`` moving only where the payload's hash differs), unchanged ones not written at
    all. ``total`` counts the documents the query yields (a record-only change counts as unchanged, as in
    :meth:`PostgresDocumentStore.upsert`: the payload is what ``changed_at`` follows)."""
    statement = sql.SQL(_DOCUMENT_CHANGES).format(documents=documents, total=total)
    total_count, inserted, changed = _run_merge(cur, statement, {**params, "source": source, "now": now})
    return UpsertOutcome(inserted, changed, total_count - inserted - changed)


def _sql_columns(frame: pl.DataFrame) -> str:
    """A staging table's columns for a frame of text, whole numbers, decimals and booleans. Decimals are staged as
    ``numeric`` from polars' text of them, so their JSON is the one polars writes (``7.0`` stays ``7.0``)."""
    def sql_type(dtype: pl.DataType) -> str:
        return "bigint" if dtype.is_integer() else "numeric" if dtype.is_float() else _SQL_TYPES[dtype.base_type()]
    return ", ".join(f'"{name}" {sql_type(dtype)}' for name, dtype in frame.schema.items())


def _key_arrays(keys: Iterable[DocumentKey] | None) -> tuple[list[str] | None, list[int] | None]:
    """Keys as the two arrays ``unnest`` pairs up again (None, None for no keys given at all)."""
    if keys is None:
        return None, None
    keys = list(keys)
    return [check_media(media) for media, _ in keys], [tmdb_id for _, tmdb_id in keys]


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
                new += _merge_entries(cur, source).new
        return new

    def sync_catalog(self, source: str, media: str, frame: pl.DataFrame) -> CatalogSync:
        check_source(source)
        frame = checked_frame(frame.with_columns(media=pl.lit(check_media(media))), ENTRY_FRAME)
        staged = frame.select("media", "tmdb_id", shard_column(pl.col("tmdb_id")), "popularity",
                              pl.col("hints").fill_null("{}"))
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_BULK_SETTINGS)
            stage_frame(cur, "staging_entries", _ENTRY_COLUMNS, staged)
            return _merge_entries(cur, source, whole_list_of=media)

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
                            attempts = 0, error = NULL, quarantine_body = NULL, quarantine_url = NULL,
                            quarantined_at = NULL, next_attempt_at = EXCLUDED.next_attempt_at, reserved_until = NULL
                        RETURNING (xmax = 0) AS inserted, change_xid = pg_current_xact_id() AS changed)
                    SELECT count(*) FILTER (WHERE inserted),
                           count(*) FILTER (WHERE changed AND NOT inserted),
                           count(*) FILTER (WHERE changed IS NOT TRUE)  -- NULL: no payload before, none now
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
            cur.execute(_BULK_SETTINGS)
            stage_frame(cur, "staging_frame", "media text, tmdb_id integer, shard smallint, payload jsonb, "
                         "record jsonb, status text", staged)
            return _write_documents(
                cur, source, sql.SQL("SELECT media, tmdb_id, shard, payload, record, status FROM staging_frame"),
                sql.SQL("SELECT count(*) FROM staging_frame"), {}, self.clock())

    def upsert_lookup(self, source: str, table: pl.DataFrame, *, key: str, catalog_source: str,
                      missing: str) -> UpsertOutcome:
        check_source(source)
        check_source(catalog_source)
        table = lookup_table(table, key)
        column = sql.Identifier(key)
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(_BULK_SETTINGS)
            # The staging table's columns are this table's: one left by an earlier lookup (kept for the session)
            # may have others, or the same in another order, into which COPY would put the values by position.
            cur.execute("DROP TABLE IF EXISTS staging_lookup")
            stage_frame(cur, "staging_lookup", _sql_columns(table), table)
            # The catalog's titles joined to the staged rows by the key in their record; a row becomes the
            # document's payload and record as PostgreSQL's JSON of it (the same object lookup_documents encodes).
            documents = sql.SQL(
                """SELECT c.media, c.tmdb_id, c.shard, found.row AS payload,
                          coalesce(found.row, jsonb_build_object(%(key)s::text, c.record ->> %(key)s,
                                                                 'not_found', %(missing)s::text)) AS record,
                          CASE WHEN found.row IS NULL THEN %(not_found)s::text ELSE %(ok)s::text END AS status
                   FROM raw.documents AS c
                   LEFT JOIN staging_lookup AS l ON l.{column} = c.record ->> %(key)s
                   CROSS JOIN LATERAL (SELECT CASE WHEN l.{column} IS NOT NULL THEN to_jsonb(l) END AS row
                                       OFFSET 0) AS found
                   WHERE c.source = %(catalog)s AND c.record ->> %(key)s IS NOT NULL"""
            ).format(column=column)
            total = sql.SQL("SELECT count(*) FROM raw.documents WHERE source = %(catalog)s "
                            "AND record ->> %(key)s IS NOT NULL")
            params = {"key": key, "missing": missing, "catalog": catalog_source, "ok": str(Status.OK),
                      "not_found": str(Status.NOT_FOUND)}
            return _write_documents(cur, source, documents, total, params, self.clock())

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
             raw_body: str | bytes | None = None, url: str | None = None) -> Status:
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
                   SET attempts = %(attempts)s, error = %(error)s, status = %(status)s, next_attempt_at = %(retry_at)s,
                       reserved_until = NULL, quarantine_body = coalesce(%(body)s, quarantine_body),
                       quarantine_url = CASE WHEN %(body)s::bytea IS NULL THEN quarantine_url ELSE %(url)s END,
                       quarantined_at = CASE WHEN %(status)s::text = 'quarantined' THEN %(now)s::timestamptz END
                   WHERE source = %(source)s AND media = %(media)s AND tmdb_id = %(tmdb_id)s""",
                {"attempts": attempts, "error": error, "status": str(status), "retry_at": retry_at,
                 "body": body_bytes(raw_body), "url": url, "now": now, "source": source, "media": media,
                 "tmdb_id": tmdb_id},
            )
        return status

    def quarantine(self, source: str, key: DocumentKey, reason: str, raw_body: str | bytes | None, *,
                   url: str | None = None) -> None:
        check_source(source)
        media, tmdb_id = key
        with self._conn.transaction():
            self._conn.execute(
                """INSERT INTO raw.documents AS d
                       (source, media, tmdb_id, shard, status, error, quarantine_body, quarantine_url, quarantined_at,
                        attempts)
                   VALUES (%(source)s, %(media)s, %(tmdb_id)s, %(shard)s, 'quarantined', %(reason)s, %(body)s, %(url)s,
                           %(now)s, 1)
                   ON CONFLICT (source, media, tmdb_id) DO UPDATE
                   SET status = 'quarantined', error = EXCLUDED.error, quarantine_body = EXCLUDED.quarantine_body,
                       quarantine_url = EXCLUDED.quarantine_url, quarantined_at = EXCLUDED.quarantined_at,
                       attempts = d.attempts + 1, next_attempt_at = NULL, reserved_until = NULL""",
                {
                    "source": source, "media": check_media(media), "tmdb_id": tmdb_id, "shard": shard_of(tmdb_id),
                    "reason": reason, "body": body_bytes(raw_body), "url": url, "now": self.clock(),
                },
            )

    def quarantined(self, source: str, *, since: datetime | None = None,
                    keys: Iterable[DocumentKey] | None = None) -> list[QuarantinedTitle]:
        check_source(source)
        medias, ids = _key_arrays(keys)
        with self._conn.transaction(), self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                """SELECT media, tmdb_id, attempts, error AS reason, quarantined_at, quarantine_url AS url,
                          octet_length(quarantine_body) AS body_size
                   FROM raw.documents
                   WHERE source = %(source)s AND status = 'quarantined'
                     AND (%(since)s::timestamptz IS NULL OR quarantined_at >= %(since)s)
                     AND (%(medias)s::text[] IS NULL
                          OR (media, tmdb_id) IN (SELECT * FROM unnest(%(medias)s::text[], %(ids)s::int[])))
                   ORDER BY quarantined_at DESC NULLS LAST, media, tmdb_id""",
                {"source": source, "since": since, "medias": medias, "ids": ids},
            )
            return [QuarantinedTitle(source=source, **row) for row in cur]

    def requeue(self, source: str, keys: Iterable[DocumentKey]) -> int:
        check_source(source)
        medias, ids = _key_arrays(keys)
        if not medias:
            return 0
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                f"""UPDATE raw.documents AS d SET
                        status = {_REVIVED_STATUS}, attempts = 0, error = NULL, quarantine_body = NULL,
                        quarantine_url = NULL, quarantined_at = NULL, next_attempt_at = %(now)s, reserved_until = NULL
                    WHERE d.source = %(source)s AND d.status = 'quarantined'
                      AND (d.media, d.tmdb_id) IN (SELECT * FROM unnest(%(medias)s::text[], %(ids)s::int[]))""",
                {"source": source, "now": self.clock(), "medias": medias, "ids": ids},
            )
            return cur.rowcount

    def set_quarantine_reasons(self, source: str, reasons: Mapping[DocumentKey, str]) -> int:
        check_source(source)
        if not reasons:
            return 0
        (medias, ids), texts = _key_arrays(reasons), list(reasons.values())
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(
                """UPDATE raw.documents AS d SET error = r.reason
                   FROM unnest(%(medias)s::text[], %(ids)s::int[], %(reasons)s::text[]) AS r(media, tmdb_id, reason)
                   WHERE d.source = %(source)s AND d.media = r.media AND d.tmdb_id = r.tmdb_id
                     AND d.status = 'quarantined'""",
                {"source": source, "medias": medias, "ids": ids, "reasons": texts},
            )
            return cur.rowcount


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
            cur.execute(_BULK_SETTINGS)
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
