"""DNA in the serving database: labels stored once, near-duplicates merged as they arrive, title↔label
links, and one vector per title for similarity search.

Every distinct text (a label, a title's DNA text) is embedded once per model: label embeddings are kept
in ``text_embeddings`` by text, title vectors carry the hash of the text they were made from. A new label
is compared with the canonical labels of its category (exact cosine, in the database) and merged into the
nearest one when the similarity reaches the threshold; label registration holds an advisory lock, so two
runs never both make canonical labels of one near-duplicate pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from goodwatch_assets.models.labels import dna_text
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.settings import DEFAULT_MERGE_SIMILARITY
from goodwatch_assets.sources import dna
from goodwatch_assets.stores.combine import refresh_dna_label_ids
from goodwatch_assets.stores.documents import DocumentStore
from goodwatch_assets.stores.partition_locks import lock_titles
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets.stores.watermarks import FeedPosition, load_position, save_watermark

_LABEL_LOCK = 0x646E615F6C61  # pg_advisory_xact_lock key of label registration ("dna_la")

CONSUMER = "dna_vectors"


class TextEmbedder(Protocol):
    """What the index needs of an embedding model (``lib/embedding.Embedder``): its name, and normalised vectors."""

    model_name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


LabelKey = tuple[str, str]
"""(category, label)."""


@dataclass(frozen=True)
class IndexedTitle:
    media: str
    tmdb_id: int
    title: str | None
    year: int | None
    dna: dict[str, Sequence[str]]


@dataclass
class IndexStats:
    titles: int = 0
    removed: int = 0  # titles whose DNA is gone (their links and vector dropped)
    labels_new: int = 0
    labels_merged: int = 0
    label_embeddings: int = 0  # texts embedded (a label already embedded anywhere is not embedded again)
    title_embeddings: int = 0  # titles whose DNA text changed
    links: int = 0

    def __iadd__(self, other: IndexStats) -> IndexStats:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def connect(db: ServingDb) -> psycopg.Connection:
    """A connection that reads and writes numpy arrays as pgvector values."""
    conn = db.connect()
    register_vector(conn)
    return conn


class DnaIndex:
    def __init__(self, db: ServingDb, embedder: TextEmbedder, merge_similarity: float = DEFAULT_MERGE_SIMILARITY):
        self._db = db
        self.embedder = embedder
        self.merge_similarity = merge_similarity

    # -- embeddings by text --------------------------------------------------------------------

    def embeddings(self, conn: psycopg.Connection, texts: Iterable[str]) -> tuple[dict[str, np.ndarray], int]:
        """Vectors of distinct texts: stored ones read, the others embedded and stored. Returns how many
        were embedded."""
        wanted = sorted(set(texts))
        rows = conn.execute(
            "SELECT text, embedding FROM text_embeddings WHERE model = %s AND text = ANY(%s)",
            (self.embedder.model_name, wanted),
        ).fetchall()
        found = {text: vector for text, vector in rows}
        missing = [text for text in wanted if text not in found]
        if missing:
            vectors = self.embedder.encode(missing)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO text_embeddings (model, text, embedding) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(self.embedder.model_name, text, vector) for text, vector in zip(missing, vectors, strict=True)],
                )
            found.update(zip(missing, vectors, strict=True))
        return found, len(missing)

    # -- labels --------------------------------------------------------------------------------

    def canonical_ids(self, conn: psycopg.Connection, keys: Iterable[LabelKey]) -> dict[LabelKey, int]:
        """The canonical label id of each known (category, label)."""
        keys = list(set(keys))
        if not keys:
            return {}
        categories, labels = zip(*keys, strict=True)
        rows = conn.execute(
            """SELECT l.category, l.label, coalesce(l.canonical_id, l.id) FROM dna_labels AS l
               JOIN unnest(%s::text[], %s::text[]) AS k(category, label) USING (category, label)""",
            (list(categories), list(labels)),
        ).fetchall()
        return {(category, label): canonical for category, label, canonical in rows}

    def register_labels(self, conn: psycopg.Connection, keys: Iterable[LabelKey], stats: IndexStats) -> dict[LabelKey, int]:
        """Canonical ids of every (category, label), new labels stored (merged into a near-duplicate when one
        is close enough). Runs inside the caller's transaction."""
        keys = set(keys)
        known = self.canonical_ids(conn, keys)
        new = sorted(keys - set(known))
        if not new:
            return known
        vectors, embedded = self.embeddings(conn, (label for _, label in new))
        stats.label_embeddings += embedded
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LABEL_LOCK,))
        known.update(self.canonical_ids(conn, new))  # registered by another run while we embedded
        for category, label in new:
            if (category, label) in known:
                continue
            nearest = conn.execute(
                """SELECT l.id, 1 - (e.embedding <=> %(vector)s) FROM dna_labels AS l
                   JOIN text_embeddings AS e ON e.model = %(model)s AND e.text = l.label
                   WHERE l.category = %(category)s AND l.canonical_id IS NULL
                   ORDER BY e.embedding <=> %(vector)s LIMIT 1""",
                {"vector": vectors[label], "model": self.embedder.model_name, "category": category},
            ).fetchone()
            merged = nearest is not None and nearest[1] >= self.merge_similarity
            row = conn.execute(
                """INSERT INTO dna_labels (category, label, canonical_id, similarity) VALUES (%s, %s, %s, %s)
                   RETURNING coalesce(canonical_id, id)""",
                (category, label, nearest[0] if merged else None, nearest[1] if merged else None),
            ).fetchone()
            known[(category, label)] = row[0]
            stats.labels_new += 1
            stats.labels_merged += merged
        return known

    # -- titles --------------------------------------------------------------------------------

    def index_changes(self, store: DocumentStore, media: str, shard: int, *, batch_size: int = 500) -> IndexStats:
        """Index the DNA documents of one catalog partition that changed since this consumer last read, batch by
        batch; the feed position is saved with the last batch."""
        position = load_position(self._db, CONSUMER, dna.SPEC.name, media, shard)
        stats = IndexStats()
        with store.changes(dna.SPEC.name, position.watermark, media=media, shard=shard, batch_size=batch_size) as feed:
            done = replace(position, watermark=feed.watermark)
            batches = iter(feed.batches())
            batch = next(batches, [])
            while True:
                following = next(batches, None)
                titles = [IndexedTitle(d.media, d.tmdb_id, d.record.get("title"), d.record.get("year"), d.record["dna"])
                          for d in batch if d.status is Status.OK and d.record and d.record.get("dna")]
                described = {(t.media, t.tmdb_id) for t in titles}
                removed = [d.key for d in batch if d.key not in described]  # DNA gone: not searchable any more
                stats += self.write_titles(titles, removed=removed, position=done if following is None else None)
                if following is None:
                    return stats
                batch = following

    def write_titles(self, titles: Sequence[IndexedTitle], *, removed: Sequence[tuple[str, int]] = (),
                     position: FeedPosition | None = None) -> IndexStats:
        """Link titles to their canonical labels and (re-)embed the titles whose DNA text changed, and drop the
        links and vectors of ``removed`` titles (their DNA is gone), in one transaction; a change-feed
        ``position`` is saved in it too. Writers of the same catalog partitions take turns (advisory locks)."""
        stats = IndexStats(titles=len(titles), removed=len(removed))
        texts = {(t.media, t.tmdb_id): dna_text(t.dna) for t in titles}
        with connect(self._db) as conn:
            stored = dict(conn.execute(
                """SELECT media || ':' || tmdb_id, text_hash FROM title_vectors
                   JOIN unnest(%s::text[], %s::int[]) AS k(media, tmdb_id) USING (media, tmdb_id)
                   WHERE model = %s""",
                ([t.media for t in titles], [t.tmdb_id for t in titles], self.embedder.model_name),
            ).fetchall())
            changed = [t for t in titles if stored.get(f"{t.media}:{t.tmdb_id}") != text_hash(texts[t.media, t.tmdb_id])]
            vectors = self.embedder.encode([texts[t.media, t.tmdb_id] for t in changed])
            stats.title_embeddings = len(changed)
            with conn.transaction():
                touched = [(t.media, t.tmdb_id) for t in titles] + list(removed)
                lock_titles(conn, touched)
                ids = self.register_labels(
                    conn, ((category, label) for t in titles for category, labels in t.dna.items() for label in labels),
                    stats)
                links = sorted({(t.media, t.tmdb_id, ids[category, label])
                                for t in titles for category, labels in t.dna.items() for label in labels})
                stats.links = len(links)
                with conn.cursor() as cur:
                    keys = ([media for media, _ in touched], [tmdb_id for _, tmdb_id in touched])
                    cur.execute("""DELETE FROM title_dna USING unnest(%s::text[], %s::int[]) AS k(media, tmdb_id)
                                   WHERE title_dna.media = k.media AND title_dna.tmdb_id = k.tmdb_id""", keys)
                    if removed:
                        cur.execute("""DELETE FROM title_vectors USING unnest(%s::text[], %s::int[]) AS k(media, tmdb_id)
                                       WHERE title_vectors.media = k.media AND title_vectors.tmdb_id = k.tmdb_id""",
                                    ([media for media, _ in removed], [tmdb_id for _, tmdb_id in removed]))
                    with cur.copy("COPY title_dna (media, tmdb_id, label_id) FROM STDIN") as copy:
                        for link in links:
                            copy.write_row(link)
                    refresh_dna_label_ids(cur, touched)
                    cur.executemany(
                        """INSERT INTO title_vectors (media, tmdb_id, shard, title, year, model, text_hash, embedding)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                           ON CONFLICT (media, tmdb_id) DO UPDATE SET
                               title = EXCLUDED.title, year = EXCLUDED.year, model = EXCLUDED.model,
                               text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding, updated_at = now()""",
                        [(t.media, t.tmdb_id, shard_of(t.tmdb_id), t.title, t.year, self.embedder.model_name,
                          text_hash(texts[t.media, t.tmdb_id]), vector) for t, vector in zip(changed, vectors, strict=True)],
                    )
                if position is not None:
                    save_watermark(conn, position)
        return stats
