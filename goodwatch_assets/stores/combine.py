"""The combine: one catalog partition's raw documents into the serving tables the web app reads.

Incremental: a partition's combine reads, for every source, the keys of documents changed since its watermark
(the document store's change feed), and rebuilds the rows of those titles only, from all their sources'
current documents merged with what is stored (``serving_columns``: a missing value never erases a stored
one). The watermarks advance in the transaction that writes the rows, so a combine killed mid-way leaves
nothing half written and the next one reads the same changes again. A full rebuild is the same combine with
every title of the partition taken as changed.

Set-based: the changed keys are COPYed into a staging table, in key order, and every write is one statement
over it (``INSERT ... SELECT ... ON CONFLICT``), touching only rows whose values differ. When the documents live
in the serving database (the PostgreSQL backend) they are joined in place; otherwise (MongoDB) the changed
titles' documents are first COPYed into a staging table of the same shape, batch by batch, so memory stays
bounded by the batch size.

A first combine (none of the changed titles has a stored row, or none has a stored link: a partition's first
full combine, or titles new upstream) writes the same rows by plain inserts: no conflict checks, no probes of
stored rows, and the links inserted straight from the documents with nothing staged and nothing to obsolete.

Streaming links are a title's current offers: new ones inserted, changed or returning ones updated (and
revived), ones gone upstream given ``obsolete_at`` (kept, not deleted).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import polars as pl
import psycopg
from psycopg import sql

from goodwatch_assets.sources.dna import DNA_LABEL_IDS
from goodwatch_assets.stores.documents import DocumentStore, chunked, json_text
from goodwatch_assets.stores.partition_locks import lock_partitions
from goodwatch_assets.stores.serving_columns import (
    OVERALL,
    ROWS_SOURCE,
    SERVING_SOURCES,
    SERVING_TABLES,
    USER_AND_OFFICIAL,
    columns_of,
    disowning,
    merged,
)
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets.stores.staging import stage_frame, stage_rows
from goodwatch_assets.stores.watermarks import FeedPosition, load_positions, save_watermark

CONSUMER = "serving"
_STAGED_DOCUMENTS = "combine_documents"
_STAGED_DOCUMENT_COLUMNS = ("source text, media text, tmdb_id integer, shard smallint, status text, popularity double precision, "
                            "hints jsonb, record jsonb, changed_at timestamptz")
_WORK_MEM = "SET LOCAL work_mem = '256MB'"


@dataclass
class CombineStats:
    changed_titles: int = 0  # titles with a changed document in any source (every title, for a full rebuild)
    changed_by_source: dict[str, int] = field(default_factory=dict)
    rows_inserted: int = 0
    rows_updated: int = 0
    links_inserted: int = 0
    links_updated: int = 0  # changed or revived
    links_obsoleted: int = 0
    providers_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    """Wall time by phase (reading the changed keys, the title merge, the links, the commit ...): where a combine's
    time goes. Not compared: two combines that wrote the same are equal however long they took."""

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started

    def __iadd__(self, other: CombineStats) -> CombineStats:
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, {k: mine.get(k, 0) + theirs.get(k, 0) for k in {*mine, *theirs}}
                    if isinstance(mine, dict) else mine + theirs)
        return self


class Combine:
    def __init__(self, db: ServingDb, store: DocumentStore, *, stage_batch_size: int = 5_000):
        self._db = db
        self._store = store
        self._stage_batch_size = stage_batch_size

    def combine_partition(self, media: str, shard: int, *, full: bool = False) -> CombineStats:
        """Bring one partition's serving rows up to date with its documents (``full``: every title, not only
        changed ones), in one transaction with the new watermarks."""
        stats = CombineStats()
        with self._db.connect() as conn:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(_WORK_MEM)
                with stats.timed("lock"):  # one combine per partition at a time, and not during DNA writes
                    lock_partitions(conn, [(media, shard)])
                with stats.timed("changed keys"):
                    changed_keys, positions = self._changed_keys(conn, stats, media, shard, full=full)
                stats.changed_titles = changed_keys.height
                if changed_keys.height:
                    self._write_rows(cur, stats, media, shard, changed_keys)
                for position in positions:
                    save_watermark(conn, position)
                committing = time.perf_counter()
            stats.seconds["commit"] = time.perf_counter() - committing
        return stats

    def _changed_keys(self, conn: psycopg.Connection, stats: CombineStats, media: str, shard: int, *,
                      full: bool) -> tuple[pl.DataFrame, list[FeedPosition]]:
        """The keys of the titles with a changed document in any source, in key order (the merge then reads the
        documents and writes the rows in index order), and each source's feed position after them."""
        keys, positions = [], []
        sources = [spec.name for spec in SERVING_SOURCES]
        for source, position in load_positions(conn, CONSUMER, sources, media, shard).items():
            watermark, changed = self._store.changed_keys(source, None if full else position.watermark,
                                                          media=media, shard=shard)
            stats.changed_by_source[source] = changed.height
            keys.append(changed)
            positions.append(replace(position, watermark=watermark))
        return pl.concat(keys).unique().sort("media", "tmdb_id"), positions

    def _write_rows(self, cur: psycopg.Cursor, stats: CombineStats, media: str, shard: int,
                    changed_keys: pl.DataFrame) -> None:
        """The changed titles' rows, links and providers. Titles none of which has a stored row (or link), as in a
        partition's first combine, are inserted without the conflict checks and the probes of stored rows a merge
        needs: the same rows, written faster."""
        table = SERVING_TABLES[media]
        with stats.timed("changed keys"):
            stage_frame(cur, "combine_keys", "media text, tmdb_id integer PRIMARY KEY", changed_keys)
        with stats.timed("documents staged"):
            documents = self._documents_relation(cur, changed_keys)
        with stats.timed("stored rows probed"):
            rows_stored, links_stored = _any_stored(cur, table)
        with stats.timed("titles"):
            stats.rows_inserted, stats.rows_updated = _write_titles(cur, table, media, shard, documents,
                                                                    merge=rows_stored)
        if links_stored:
            with stats.timed("offers staged"):
                _stage_offers(cur, shard, documents)
            with stats.timed("links"):
                stats.links_inserted, stats.links_updated = _merge_links(cur)
            with stats.timed("links obsoleted"):
                stats.links_obsoleted = _obsolete_links(cur, shard, documents)
            with stats.timed("providers"):
                stats.providers_written = _merge_providers(cur)
        else:
            with stats.timed("links"):
                stats.links_inserted, stats.providers_written = _insert_links(cur, shard, documents)

    def _documents_relation(self, cur: psycopg.Cursor, keys: pl.DataFrame) -> sql.Composable:
        """Where the merge reads documents: the store's own table when it lives in this database, else a staging
        table filled with the changed titles' documents of every source."""
        in_place = self._store.relation_in(self._db)
        if in_place is not None:
            return sql.Identifier(*in_place)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGED_DOCUMENTS} ({_STAGED_DOCUMENT_COLUMNS}, "
                    "PRIMARY KEY (source, media, tmdb_id)) ON COMMIT DELETE ROWS")
        for batch in chunked(keys.iter_rows(), self._stage_batch_size):
            for spec in SERVING_SOURCES:
                documents = self._store.get_many(spec.name, batch).values()
                stage_rows(cur, _STAGED_DOCUMENTS, _STAGED_DOCUMENT_COLUMNS, [
                    (d.source, d.media, d.tmdb_id, d.shard, str(d.status), d.popularity, json_text(d.hints), json_text(d.record),
                     d.changed_at) for d in documents])
        cur.execute(f"ANALYZE {_STAGED_DOCUMENTS}")
        return sql.Identifier(_STAGED_DOCUMENTS)


def _joins(documents: sql.Composable) -> sql.Composed:
    """The changed keys ``k`` with each source's ``ok`` document under its alias (the rows source's required), and its
    record unpacked; a source that can disown a title joins its disowning documents too (their record not
    unpacked), so that its columns empty."""
    parts = []
    for spec in SERVING_SOURCES:
        alias, details = spec.serving.alias, spec is ROWS_SOURCE
        usable, record = f"{alias}.status = 'ok'", f"{alias}.record"
        if disowning(spec):
            usable, record = f"({usable} OR {disowning(spec)})", f"CASE WHEN {alias}.status = 'ok' THEN {record} END"
        parts.append(sql.SQL(
            "{join} {documents} AS {alias} ON {alias}.source = {source} AND {alias}.media = k.media "
            "AND {alias}.shard = %(shard)s AND {alias}.tmdb_id = k.tmdb_id AND {usable} "
            "LEFT JOIN LATERAL jsonb_to_record({record}) AS {fields}({types}) ON true"
        ).format(join=sql.SQL("JOIN" if details else "LEFT JOIN"), documents=documents, alias=sql.Identifier(alias),
                 source=sql.Literal(spec.name), usable=_usable_details() if details else sql.SQL(usable),
                 record=sql.SQL(record), fields=sql.Identifier(alias + "r"), types=sql.SQL(spec.serving.record_fields)))
    return sql.SQL("\n").join(parts)


_DETAILS = ROWS_SOURCE.serving.alias


def _usable_details() -> sql.Composable:
    """Details that describe the title: its last good record, whatever the document's queue state (a failed or
    quarantined refresh, a title gone from the export, keep the record they had), so a change of another source
    is never skipped because the details are between two fetches."""
    return sql.SQL(f"{_DETAILS}.record ? 'title'")


def _details_of_key(documents: sql.Composable) -> sql.Composed:
    return sql.SQL(f"JOIN {{documents}} AS {_DETAILS} ON {_DETAILS}.source = {{details}} AND {_DETAILS}.media = k.media "
                   f"AND {_DETAILS}.shard = %(shard)s AND {_DETAILS}.tmdb_id = k.tmdb_id").format(
        documents=documents, details=sql.Literal(ROWS_SOURCE.name))


def _probe(table: str, condition: str, columns: str) -> sql.Composed:
    """A subquery reading a changed title's stored rows by primary key (``OFFSET 0`` keeps the planner from
    turning it into a scan of the whole table, which it would pick while the table's statistics are older
    than its contents, as during a first full combine)."""
    return sql.SQL(f"SELECT {columns} FROM {{table}} AS o WHERE {condition} OFFSET 0").format(table=sql.Identifier(table))


def _any_stored(cur: psycopg.Cursor, table: str) -> tuple[bool, bool]:
    """Whether any changed title has a stored row, and whether any has a stored streaming link (by primary key:
    the probe stops at the first one found)."""
    cur.execute(sql.SQL("""
        SELECT EXISTS (SELECT FROM combine_keys AS k WHERE EXISTS ({row})),
               EXISTS (SELECT FROM combine_keys AS k WHERE EXISTS ({link}))
    """).format(row=_probe(table, "o.tmdb_id = k.tmdb_id", "1"),
                link=_probe("streaming_links", "o.media = k.media AND o.tmdb_id = k.tmdb_id", "1")))
    rows_stored, links_stored = cur.fetchone()
    return rows_stored, links_stored


def _write_titles(cur: psycopg.Cursor, table: str, media: str, shard: int, documents: sql.Composable, *,
                  merge: bool) -> tuple[int, int]:
    """Insert or update the changed titles' rows (only rows whose values differ are written). Without ``merge``
    (none of them is stored) the stored row each value falls back on is the empty one a probe would find, and
    every row is inserted without a conflict check."""
    columns = columns_of(media)
    values = sql.SQL(", ").join(sql.SQL(f"{merged(c)} AS {c.name}") for c in columns)
    firsts = sql.SQL(", ").join(sql.SQL(f"{expr} AS {name}") for name, expr in USER_AND_OFFICIAL.items())
    overall = sql.SQL(", ").join(sql.SQL(f"{expr} AS {name}") for name, expr in OVERALL.items())
    written = [c.name for c in columns] + list(USER_AND_OFFICIAL) + list(OVERALL)
    names = sql.SQL(", ").join(map(sql.Identifier, written))
    excluded = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in written)
    current = sql.SQL(", ").join(sql.SQL("cur.{}").format(sql.Identifier(n)) for n in written)
    upsert = sql.SQL("""ON CONFLICT (tmdb_id) DO UPDATE SET ({names}) = ROW({excluded}), updated_at = now()
            WHERE ({current}) IS DISTINCT FROM ({excluded})""").format(names=names, excluded=excluded, current=current)
    cur.execute(sql.SQL("""
        WITH written AS (
            INSERT INTO {table} AS cur (tmdb_id, shard, {names})
            SELECT tmdb_id, %(shard)s, {names} FROM (
                SELECT s.*, {overall} FROM (
                    SELECT m.*, {firsts} FROM (
                        SELECT k.tmdb_id, {values}
                        FROM combine_keys AS k
                        {joins}
                        LEFT JOIN LATERAL ({stored}) AS o ON true
                    ) AS m
                ) AS s
            ) AS a
            {upsert}
            RETURNING xmax = 0 AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
    """).format(table=sql.Identifier(table), names=names, overall=overall, firsts=firsts, values=values,
                joins=_joins(documents), upsert=upsert if merge else sql.SQL(""),
                stored=_probe(table, "o.tmdb_id = k.tmdb_id" if merge else "false", "o.*")), {"shard": shard})
    inserted, updated = cur.fetchone()
    return inserted, updated


def _offers(documents: sql.Composable) -> sql.Composed:
    """The current offers of the changed titles that have details: one row per link key (the first of
    duplicates, by TMDB's display priority), in key order."""
    return sql.SQL("""
        SELECT DISTINCT ON (k.media, k.tmdb_id, x.country, x.provider_id, x.type)
               k.media, k.tmdb_id, x.country AS country_code, x.provider_id, x.type AS stream_type,
               x.display_priority, x.link, x.provider_name
        FROM combine_keys AS k
        {details} AND {usable}
        CROSS JOIN LATERAL jsonb_to_recordset({details_alias}.record -> 'offers')
            AS x(country text, provider_id integer, provider_name text, type text, display_priority integer, link text)
        ORDER BY k.media, k.tmdb_id, x.country, x.provider_id, x.type, x.display_priority NULLS LAST
    """).format(details=_details_of_key(documents), usable=_usable_details(), details_alias=sql.SQL(_DETAILS))


def _stage_offers(cur: psycopg.Cursor, shard: int, documents: sql.Composable) -> None:
    cur.execute(sql.SQL("CREATE TEMP TABLE combine_offers ON COMMIT DROP AS {offers}").format(offers=_offers(documents)),
                {"shard": shard})
    cur.execute("CREATE INDEX ON combine_offers (media, tmdb_id, country_code, provider_id, stream_type)")
    cur.execute("ANALYZE combine_offers")


_LINK_COLUMNS = "media, tmdb_id, country_code, provider_id, stream_type, display_priority, link"


def _insert_links(cur: psycopg.Cursor, shard: int, documents: sql.Composable) -> tuple[int, int]:
    """The links of changed titles none of which has a stored link: every offer is a new link and none is gone,
    so they are inserted straight from the documents in one statement, with the providers they name (no staging,
    no conflict check, nothing to obsolete). Returns the links inserted and the providers written."""
    cur.execute(sql.SQL("""
        WITH offers AS MATERIALIZED ({offers}),
             links AS (INSERT INTO streaming_links ({columns}) SELECT {columns} FROM offers RETURNING 1),
             providers AS ({providers} RETURNING 1)
        SELECT (SELECT count(*) FROM links), (SELECT count(*) FROM providers)
    """).format(offers=_offers(documents), columns=sql.SQL(_LINK_COLUMNS), providers=_providers_upsert("offers")),
        {"shard": shard})
    links, providers = cur.fetchone()
    return links, providers


def _merge_links(cur: psycopg.Cursor) -> tuple[int, int]:
    cur.execute(sql.SQL("""
        WITH written AS (
            INSERT INTO streaming_links AS l ({columns}) SELECT {columns} FROM combine_offers
            ON CONFLICT (media, tmdb_id, country_code, provider_id, stream_type) DO UPDATE SET
                display_priority = EXCLUDED.display_priority, link = EXCLUDED.link, obsolete_at = NULL,
                updated_at = now()
            WHERE l.obsolete_at IS NOT NULL
               OR (l.display_priority, l.link) IS DISTINCT FROM (EXCLUDED.display_priority, EXCLUDED.link)
            RETURNING xmax = 0 AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
    """).format(columns=sql.SQL(_LINK_COLUMNS)))
    inserted, updated = cur.fetchone()
    return inserted, updated


def _obsolete_links(cur: psycopg.Cursor, shard: int, documents: sql.Composable) -> int:
    """Links of the changed titles that are no longer offered get ``obsolete_at``: those their details no longer
    list, and all of a title TMDB no longer has (its details fetched as not found)."""
    cur.execute(sql.SQL("""
        WITH gone AS (
            SELECT o.ctid AS row_id
            FROM combine_keys AS k
            {details} AND ({usable} OR {details_alias}.status = 'not_found')
            CROSS JOIN LATERAL ({stored}) AS o
            WHERE NOT EXISTS (SELECT 1 FROM combine_offers AS c
                              WHERE c.media = o.media AND c.tmdb_id = o.tmdb_id AND c.country_code = o.country_code
                                AND c.provider_id = o.provider_id AND c.stream_type = o.stream_type))
        UPDATE streaming_links AS l SET obsolete_at = now(), updated_at = now()
        FROM gone WHERE l.ctid = gone.row_id
    """).format(details=_details_of_key(documents), usable=_usable_details(), details_alias=sql.SQL(_DETAILS),
                stored=_probe("streaming_links", "o.media = k.media AND o.tmdb_id = k.tmdb_id AND o.obsolete_at IS NULL",
                              "o.ctid, o.media, o.tmdb_id, o.country_code, o.provider_id, o.stream_type")),
        {"shard": shard})
    return cur.rowcount


def _providers_upsert(offers: str) -> sql.Composed:
    """Providers seen in the offers, by id: a new one inserted, a renamed one updated."""
    return sql.SQL("""
        INSERT INTO streaming_providers AS p (provider_id, name)
        SELECT DISTINCT ON (provider_id) provider_id, provider_name FROM {offers}
        WHERE provider_name IS NOT NULL ORDER BY provider_id
        ON CONFLICT (provider_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
        WHERE p.name IS DISTINCT FROM EXCLUDED.name
    """).format(offers=sql.Identifier(offers))


def _merge_providers(cur: psycopg.Cursor) -> int:
    cur.execute(_providers_upsert("combine_offers"))
    return cur.rowcount


def refresh_dna_label_ids(cur: psycopg.Cursor, keys: list[tuple[str, int]]) -> None:
    """Copy these titles' DNA label ids from ``title_dna`` into their serving rows (the DNA index calls it when it
    relinks titles, so filtering by DNA on the serving tables does not wait for the next combine)."""
    for media, table in SERVING_TABLES.items():
        ids = sorted({tmdb_id for m, tmdb_id in keys if m == media})
        if ids:
            cur.execute(sql.SQL("""
                UPDATE {table} AS o SET dna_label_ids = {label_ids}, updated_at = now()
                FROM (SELECT %s::text AS media, unnest(%s::int[]) AS tmdb_id) AS k
                WHERE o.tmdb_id = k.tmdb_id AND o.dna_label_ids IS DISTINCT FROM {label_ids}
            """).format(table=sql.Identifier(table), label_ids=sql.SQL(DNA_LABEL_IDS)), (media, ids))
