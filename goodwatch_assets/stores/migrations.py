"""Plain SQL migrations, applied in order, once, under a lock.

Files are ``migrations/NNNN_name.sql``. ``schema_migrations`` records each applied version with a
checksum of its file: an applied migration whose file changed afterwards is an error, not a silent
drift. Several processes may start at once (webserver, daemon, run workers); a transaction-level
advisory lock makes the first one apply and the others find the work done.
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


class MigrationError(GoodwatchError):
    """The database's schema history disagrees with the migration files."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


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
    """Apply every pending migration; return the ones applied by this call."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
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
                        f"migration {migration.version:04d}_{migration.name}.sql was changed after it "
                        "was applied; add a new migration instead of editing an applied one"
                    )
                continue
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration)
    return applied_now


def schema_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])
