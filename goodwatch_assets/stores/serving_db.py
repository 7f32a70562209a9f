"""The serving PostgreSQL database: ``DATABASE_URL`` when set, else the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from goodwatch_assets.errors import ConfigurationError, DatabaseUnavailable
from goodwatch_assets.settings import DATA_DIR, DATABASE_URL, StoreSettings
from goodwatch_assets.stores import migrations
from goodwatch_assets.stores.embedded_server import embedded_postgres_url
from goodwatch_assets.stores.urls import libpq_url, redact, scrub

CONNECT_TIMEOUT_SECONDS = 5
MINIMUM_SERVER = 160000  # server_version_num of PostgreSQL 16
MINIMUM_PGVECTOR = (0, 8)  # iterative index scans
REQUIRED_CONTRIB = ("pg_trgm", "unaccent")  # title search


@dataclass(frozen=True)
class ServingDb:
    """A handle on the serving database: how to reach it and what it is (for status output)."""

    url: str = field(repr=False)  # may hold a password: never in a repr, a log line or an error
    embedded: bool = False

    @property
    def display_url(self) -> str:
        return redact(self.url)

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        """A new connection; as a context manager it commits on success, rolls back on error, closes."""
        return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_SECONDS)

    def migrate(self) -> list[migrations.Migration]:
        """Apply pending migrations (idempotent, safe from several processes at once)."""
        with self.connect(autocommit=True) as conn:
            return migrations.apply_migrations(conn)

    def require_current_schema(self) -> int:
        """The schema version, or :class:`~goodwatch_assets.stores.migrations.SchemaBehind` naming the command to
        run when a migration is missing."""
        with self.connect(autocommit=True) as conn:
            return migrations.require_current(conn, self.display_url)

    def schema_version(self) -> int:
        with self.connect() as conn:
            return migrations.schema_version(conn)

    def reason(self, error: psycopg.Error) -> str:
        """The first line of the driver's message, with this database's secrets scrubbed from it."""
        text = str(error).strip()
        return scrub(text.splitlines()[0], self.url) if text else type(error).__name__

    @contextmanager
    def outage_named(self, doing: str, kept: str) -> Iterator[None]:
        """Turn the driver's "server closed the connection unexpectedly" in the middle of ``doing`` into one error
        that names the database and says what is kept (``kept``), with no password in it."""
        try:
            yield
        except psycopg.OperationalError as error:
            reason = self.reason(error)
            raise DatabaseUnavailable(f"the serving database {self.display_url} stopped answering while {doing} "
                                      f"({reason}). {kept} Run it again once the database is back.") from error


def open_serving_db(settings: StoreSettings, *, migrate: bool | None = None) -> ServingDb:
    """Reach the serving database, check it answers, and bring its schema up to date or check that it is.

    ``migrate`` True: apply pending migrations (``goodwatch stores init``, the main job); False: only reach it
    (status output); None: the embedded database (one machine, no deploy step) is migrated, a database at
    ``DATABASE_URL`` only checked (:class:`~goodwatch_assets.stores.migrations.SchemaBehind` when a migration is
    missing), since migrating it is the deploy's step and not every run worker's.

    A URL that is malformed or does not answer raises :class:`ConfigurationError` naming ``DATABASE_URL``; nothing
    deeper leaks out as a stack trace.
    """
    if settings.database_url:
        db = ServingDb(url=libpq_url(DATABASE_URL, settings.database_url), embedded=False)
    else:
        db = ServingDb(url=embedded_postgres_url(settings.resolved_data_dir), embedded=True)
    _check_reachable(db)
    check_server(db)
    if migrate or (migrate is None and db.embedded):
        db.migrate()
    elif migrate is None:
        db.require_current_schema()
    return db


def _check_reachable(db: ServingDb) -> None:
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:  # OperationalError (no answer), ProgrammingError (malformed URL)
        setting = DATA_DIR if db.embedded else DATABASE_URL
        raise ConfigurationError(setting, f"cannot connect to {db.display_url}: {db.reason(error)}") from error


def check_server(db: ServingDb) -> None:
    """PostgreSQL 16 or later with pgvector 0.8 or later and the contrib modules available, or one error naming
    what the server has (before any migration runs, so nothing is half applied)."""
    with db.connect(autocommit=True) as conn:
        version_num, version, pgvector, contrib = conn.execute(
            """SELECT current_setting('server_version_num')::int, split_part(current_setting('server_version'), ' ', 1),
                      (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'),
                      array(SELECT name FROM pg_available_extensions WHERE name = ANY(%s) ORDER BY name)""",
            (list(REQUIRED_CONTRIB),)).fetchone()
    missing = [name for name in REQUIRED_CONTRIB if name not in contrib]
    if version_num < MINIMUM_SERVER or pgvector is None or _version(pgvector) < MINIMUM_PGVECTOR or missing:
        setting = DATA_DIR if db.embedded else DATABASE_URL
        has = f"PostgreSQL {version} with pgvector {pgvector or 'not installed'}" + (
            f", without {' and '.join(missing)}" if missing else "")
        raise ConfigurationError(setting, f"{db.display_url} is {has}; GoodWatch needs PostgreSQL 16 or later with "
                                          f"pgvector 0.8 or later and the contrib modules {', '.join(REQUIRED_CONTRIB)}")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())
