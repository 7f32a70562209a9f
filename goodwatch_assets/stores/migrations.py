"""Plain SQL migrations, applied in order, once, under a lock.

Files are ``migrations/NNNN_name.sql``. ``schema_migrations`` records each applied version with a
checksum of its file: an applied migration whose file changed afterwards is an error, not a silent
drift. Several processes may start at once (an init job, a developer's shell); a session-level advisory
lock makes the first one apply and the others find the work done.

Each migration runs in a transaction of its own, with its record. A file whose first line is
``-- goodwatch: no-transaction`` runs outside one, as one statement: ``CREATE INDEX CONCURRENTLY`` builds an
index on a live store without locking its writers (write it ``IF NOT EXISTS``: an interrupted concurrent build
leaves an invalid index, which a second run must drop first).

On a deployment, migrating is a step of its own (``goodwatch stores init``, an init job); run workers only
check the version (:func:`require_current`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from goodwatch_assets.errors import GoodwatchError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x60_0D_3A_7C  # an arbitrary constant: "goodwatch migrations"
NO_TRANSACTION = "-- goodwatch: no-transaction"


class MigrationError(GoodwatchError):
    """The database's schema history disagrees with the migration files."""


class SchemaBehind(GoodwatchError):
    """The database has not had every migration this code needs: the deploy's migration step has not run."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def transactional(self) -> bool:
        return not self.sql.startswith(NO_TRANSACTION)

    def statement(self) -> str:
        """A non-transactional migration's one statement (PostgreSQL runs several sent at once in a transaction)."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--")).strip()
        if body.rstrip(";").count(";"):
            raise MigrationError(f"{self.file_name} runs outside a transaction and must hold exactly one statement")
        return body


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("goodwatch_assets.stores").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def apply_migrations(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; return the ones applied by this call. ``conn`` is in autocommit mode: each
    migration opens its own transaction, or none."""
    applied_now = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        recorded = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in available_migrations():
            if migration.version in recorded:
                if recorded[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.file_name} was changed after it was applied; add a new migration "
                        "instead of editing an applied one"
                    )
                continue
            if migration.transactional:
                with conn.transaction():
                    conn.execute(migration.sql)
                    _record(conn, migration)
            else:
                conn.execute(migration.statement())
                _record(conn, migration)
            applied_now.append(migration)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


def _record(conn: psycopg.Connection, migration: Migration) -> None:
    conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                 (migration.version, migration.name, migration.checksum))


def schema_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def require_current(conn: psycopg.Connection, where: str) -> int:
    """The schema version, when it has every migration this code ships; else :class:`SchemaBehind`."""
    have, need = schema_version(conn), available_migrations()[-1].version
    if have < need:
        missing = [m.file_name for m in available_migrations() if m.version > have]
        raise SchemaBehind(
            f"the serving database {where} is at schema version {have}, this code needs {need} "
            f"({', '.join(missing)} not applied): run `goodwatch stores init` (the deploy's migration step) first")
    return have
