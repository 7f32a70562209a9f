"""The embedded PostgreSQL 16 + pgvector used when ``DATABASE_URL`` is not set.

``pgserver`` runs one server per data directory and shares it between processes (webserver,
daemon, run workers, the CLI): every process that asks registers itself, and the last one to exit
stops the server. Start-up takes under a second; the data survives restarts.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import DATA_DIR

DATABASE_NAME = "goodwatch"


def embedded_postgres_url(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server under ``data_dir/pgdata`` and return a URL of ``database``.

    The database is created on first use.
    """
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine here.
            warnings.simplefilter("ignore")
            import pgserver  # imported here: only the embedded default needs it

            server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    except Exception as error:  # pgserver raises plain exceptions of many kinds
        raise ConfigurationError(
            DATA_DIR, f"cannot start the embedded PostgreSQL in {data_dir / 'pgdata'}: {error}"
        ) from error
    _create_database_if_missing(server.get_uri(), database)
    return server.get_uri(database=database)


def _create_database_if_missing(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our CREATE
