"""The serving database: embedded server shared by processes, idempotent migrations."""

from __future__ import annotations

import multiprocessing

import psycopg
import pytest

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores import migrations
from goodwatch_assets.stores.embedded_server import embedded_postgres_url
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db
from goodwatch_assets_tests.helpers import run_cli


def test_embedded_server_is_postgres_18_with_pgvector_08_contrib_and_statement_statistics(serving_db):
    assert serving_db.embedded
    with serving_db.connect() as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        extensions = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
        distance = conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone()[0]
        preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        folded = conn.execute("SELECT searchable_title('Amélie', 'Le Fabuleux Destin d''Amélie Poulain')").fetchone()[0]
    assert 180000 <= int(version) < 190000
    assert tuple(map(int, extensions["vector"].split("."))) >= (0, 8) and {"pg_trgm", "unaccent"} <= set(extensions)
    assert distance == pytest.approx(1.0)
    assert preloaded == "pg_stat_statements"
    assert folded == "amelie le fabuleux destin d'amelie poulain"


def _old_server(data_dir):
    """The old embedded package's server (pgserver: PostgreSQL 16.2, pgvector 0.6.2, no contrib modules) of
    ``data_dir/pgdata``."""
    import pgserver

    data_dir.mkdir(exist_ok=True)
    return pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")


@pytest.fixture
def old_data_dir(tmp_path):
    """A data directory the old embedded server made, holding a goodwatch database with one row; stopped."""
    server = _old_server(tmp_path / "old")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE goodwatch")
    with psycopg.connect(server.get_uri(database="goodwatch")) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute("CREATE TABLE kept (id integer PRIMARY KEY, embedding vector(2))")
        conn.execute("CREATE INDEX ON kept USING hnsw (embedding vector_cosine_ops)")
        conn.execute("INSERT INTO kept VALUES (7, '[1,2]')")
    server.cleanup()
    return tmp_path / "old"


def test_a_database_url_below_postgres_16_with_pgvector_08_is_refused_in_one_line_before_any_migration(old_data_dir):
    server = _old_server(old_data_dir)
    try:
        url = server.get_uri(database="goodwatch")
        with pytest.raises(ConfigurationError) as refused:
            open_serving_db(StoreSettings(database_url=url), migrate=True)
        with psycopg.connect(url) as conn:
            migrated = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    finally:
        server.cleanup()
    assert str(refused.value).startswith("DATABASE_URL: ")
    assert "is PostgreSQL 16.2 with pgvector 0.6.2, without pg_trgm and unaccent; GoodWatch needs PostgreSQL 16 or " \
           "later with pgvector 0.8 or later" in str(refused.value)
    assert migrated == (None,)  # nothing was migrated


def test_the_old_embedded_data_directory_is_named_with_the_command_that_moves_it_and_that_command_keeps_its_data(
        old_data_dir):
    data_dir = old_data_dir
    with pytest.raises(ConfigurationError, match=r"GOODWATCH_DATA_DIR: .*pgdata was made by PostgreSQL 16 \(the old "
                                                 r"embedded server\); this version embeds PostgreSQL 18: move the "
                                                 r"data with `goodwatch stores upgrade-embedded`"):
        embedded_postgres_url(data_dir)
    moved = run_cli("stores", "upgrade-embedded", GOODWATCH_DATA_DIR=str(data_dir))
    assert moved.returncode == 0, moved.stderr
    assert "moved goodwatch from PostgreSQL 16 to PostgreSQL 18" in moved.stdout
    assert (data_dir / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    assert (data_dir / "pgdata-16-backup" / "PG_VERSION").read_text().strip() == "16"
    with psycopg.connect(embedded_postgres_url(data_dir)) as conn:
        row = conn.execute("SELECT id, embedding::text FROM kept ORDER BY embedding <=> '[1,2]' LIMIT 1").fetchone()
        pgvector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert row == (7, "[1,2]") and pgvector.startswith("0.8")
    again = run_cli("stores", "upgrade-embedded", GOODWATCH_DATA_DIR=str(data_dir))
    assert again.returncode == 0 and "already PostgreSQL 18: nothing to move" in again.stdout


def test_migrations_are_recorded_once_with_their_checksums(serving_db):
    latest = migrations.available_migrations()[-1]
    assert serving_db.migrate() == []  # already applied when the fixture opened the database
    assert serving_db.schema_version() == latest.version
    with serving_db.connect() as conn:
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version").fetchall()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'raw'")}
    assert rows == [(m.version, m.name, m.checksum) for m in migrations.available_migrations()]
    assert "documents" in tables


def _fresh_database(serving_db: ServingDb, name: str) -> ServingDb:
    with serving_db.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return ServingDb(url=serving_db.url.replace("/goodwatch?", f"/{name}?"), embedded=True)


def _migrate(url: str, start, results) -> None:
    start.wait()
    applied = ServingDb(url=url, embedded=True).migrate()
    results.put([m.version for m in applied])


def test_processes_migrating_at_once_apply_each_migration_once(serving_db):
    fresh = _fresh_database(serving_db, "migrate_race")
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_migrate, args=(fresh.url, start, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    applied = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    every_version = [m.version for m in migrations.available_migrations()]
    assert sorted(applied, key=len) == [[], [], every_version]  # one process did it all, the others nothing
    assert fresh.schema_version() == every_version[-1]


def test_an_applied_migration_edited_afterwards_is_refused(serving_db):
    fresh = _fresh_database(serving_db, "migrate_edited")
    fresh.migrate()
    with fresh.connect() as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(migrations.MigrationError, match="0001_raw_documents.sql was changed after it was applied"):
        fresh.migrate()


def test_a_deployed_database_behind_the_code_stops_a_run_worker_until_the_init_step_migrates_it(serving_db):
    fresh = _fresh_database(serving_db, "migrate_deploy")
    settings = StoreSettings(database_url=fresh.url)
    latest = migrations.available_migrations()[-1].version
    with pytest.raises(migrations.SchemaBehind, match=rf"is at schema version 0, this code needs {latest} \(0001_raw"
                                                       r".*run `goodwatch stores init` \(the deploy's migration step\)"):
        open_serving_db(settings)  # what every run worker's serving_db resource does on a DATABASE_URL
    assert fresh.schema_version() == 0  # the worker created nothing
    init = run_cli("stores", "init", DATABASE_URL=fresh.url)
    assert init.returncode == 0 and f"schema version {latest}" in init.stdout, init.stderr
    assert open_serving_db(settings).schema_version() == latest  # the worker now starts


def test_a_migration_marked_no_transaction_builds_its_index_concurrently(serving_db, monkeypatch):
    fresh = _fresh_database(serving_db, "migrate_concurrently")
    fresh.migrate()
    shipped = migrations.available_migrations()
    index = "CREATE INDEX CONCURRENTLY IF NOT EXISTS migrations_by_time ON schema_migrations (applied_at);\n"
    in_transaction = migrations.Migration(shipped[-1].version + 1, "by_time", "-- an index on a live table\n" + index)
    monkeypatch.setattr(migrations, "available_migrations", lambda: [*shipped, in_transaction])
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):  # what PostgreSQL says without the mark
        fresh.migrate()
    marked = migrations.Migration(in_transaction.version, "by_time",
                                  f"{migrations.NO_TRANSACTION}\n-- an index on a live table\n{index}")
    monkeypatch.setattr(migrations, "available_migrations", lambda: [*shipped, marked])
    assert [m.version for m in fresh.migrate()] == [marked.version]
    with fresh.connect() as conn:
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'migrations_by_time'::regclass"
                             ).fetchone()
    assert valid == (True,) and fresh.schema_version() == marked.version
    two = migrations.Migration(marked.version + 1, "two", f"{migrations.NO_TRANSACTION}\n{index}SELECT 1;\n")
    monkeypatch.setattr(migrations, "available_migrations", lambda: [*shipped, marked, two])
    with pytest.raises(migrations.MigrationError, match="must hold exactly one statement"):
        fresh.migrate()


def _join_embedded_server(data_dir, results) -> None:
    results.put(embedded_postgres_url(data_dir))


def test_a_second_process_joins_the_same_embedded_server(serving_db, embedded_data_dir):
    # What the webserver, the daemon and run workers do: ask for the server of one data dir.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    joiner = context.Process(target=_join_embedded_server, args=(embedded_data_dir, results))
    joiner.start()
    url = results.get(timeout=60)
    joiner.join(timeout=30)
    assert joiner.exitcode == 0 and url == serving_db.url
    with psycopg.connect(url) as conn:  # and the server is still up after that process exited
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_database_gone_mid_run_fails_with_one_line_naming_it_and_no_password(tmp_path):
    from goodwatch_assets.errors import DatabaseUnavailable

    db = ServingDb(url=f"postgresql://goodwatch:s3cret-pw@/goodwatch?host={tmp_path}")  # no server on that socket
    with pytest.raises(DatabaseUnavailable) as raised, db.outage_named("the combine ran movie|03", "Nothing is lost."):
        db.connect().close()
    message = str(raised.value)
    assert message.startswith(f"the serving database {db.display_url} stopped answering while the combine ran "
                              "movie|03 (connection ")  # then the driver's first line: failed, or is bad
    assert message.endswith("Nothing is lost. Run it again once the database is back.")
    assert "s3cret-pw" not in message and "\n" not in message
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
