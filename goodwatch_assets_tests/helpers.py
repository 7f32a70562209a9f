"""What several test modules share: clocks and waits, resources pointed at the replica, runs of every source, the
comparison with the replica's ground truth, and readers of the serving tables. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import dagster as dg
import httpx
import orjson
import psutil
from psycopg import sql

from goodwatch_assets.defs.main_job import run_pipeline
from goodwatch_assets.defs.partitions import CatalogPartition, all_catalog_partitions, catalog_partitions
from goodwatch_assets.defs.resources import QueuesResource, build_resources
from goodwatch_assets.defs.sources.assets import (
    PER_TITLE_ASSETS,
    PER_TITLE_SPECS,
    imdb_ratings,
    tmdb_changes,
    tmdb_daily_export,
)
from goodwatch_assets.defs.sources.page_candidates import SITEMAP_ASSETS, wikidata_ids
from goodwatch_assets.defs.title_runs import TitlesConfig
from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import FetchFailed, RateLimited, SourceClient
from goodwatch_assets.lib.title_fetching import fetch_titles
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, Reservation, Status
from goodwatch_assets.models.records import (
    DNA_CATEGORIES,
    MetacriticScores,
    RottenTomatoesScores,
    TitleDetails,
    TropesPage,
)
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.settings import REPLICA_URL, Settings, site_variable
from goodwatch_assets.sources import dna, imdb, tmdb
from goodwatch_assets.sources.page_finding import NO_CANDIDATE, NO_PAGE, NOT_THE_TITLES
from goodwatch_assets.sources.registry import SITES
from goodwatch_assets.stores.combine import Combine, CombineStats
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_columns import SERVING_SOURCES
from goodwatch_assets.stores.serving_db import ServingDb

PROJECT = Path(__file__).resolve().parents[1]
REAL_MONGODB_URI = os.environ.get("MONGODB_URI")
GOODWATCH = str(Path(sys.executable).with_name("goodwatch"))
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
"""The real recorded pages and responses, beside the project."""
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
"""The day the end-to-end tests ingest: yesterday's daily files."""
SERVING_TABLES = "movies, tv_shows, streaming_links, streaming_providers"
TABLE = {"movie": "movies", "tv": "tv_shows"}
EXPLAINED = (NO_PAGE, NOT_THE_TITLES, NO_CANDIDATE)
"""Why a page-finding source found no page for a title: every candidate 404, every page rejected, no candidate."""
WRITE_TIMES = ("created_at", "updated_at")
"""Kept out of snapshots: when a row was written, not what it says."""


# -- time and processes ------------------------------------------------------------------------------------------------

def settle() -> None:
    """Let the stores' own clocks move on: ``changed_at`` is server time, and a change feed reads
    strictly before the server's "now" (at millisecond precision on MongoDB)."""
    time.sleep(0.005)


class FakeClock:
    """A clock the tests move by hand (reservation expiry, backoff, fetched_at)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """The URL answers 200."""
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen) -> None:
    """``dagster dev`` stops on SIGINT to its process group (webserver, daemon, code servers, run workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    return pid_file.exists() and psutil.pid_exists(int(pid_file.read_text().split()[0]))


def wait_for(condition, timeout: float = 60, every: float = 2.0, what: str = "the condition"):
    """Poll ``condition`` every ``every`` seconds until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# -- MongoDB ---------------------------------------------------------------------------------------------------------------

def mongo_database():
    """A database on the real MongoDB server (``MONGODB_URI``), or on mongomock; with its client."""
    if REAL_MONGODB_URI:
        import pymongo

        client = pymongo.MongoClient(REAL_MONGODB_URI, tz_aware=True)
        return client, client[f"goodwatch_test_{uuid.uuid4().hex[:8]}"]
    import mongomock

    teach_mongomock_current_bulk_api()
    client = mongomock.MongoClient(tz_aware=True)
    return client, client["goodwatch_test"]


def teach_mongomock_current_bulk_api() -> None:
    """pymongo >= 4.10 passes ``sort=`` to bulk builders; mongomock 4.3 predates it (ignored: unused here)."""
    from mongomock.collection import BulkOperationBuilder

    if getattr(BulkOperationBuilder.add_update, "accepts_sort", False):
        return
    original = BulkOperationBuilder.add_update

    def add_update(self, selector, doc, multi, upsert, collation=None, array_filters=None, hint=None, sort=None):
        return original(self, selector, doc, multi, upsert, collation=collation, array_filters=array_filters, hint=hint)

    add_update.accepts_sort = True
    BulkOperationBuilder.add_update = add_update


# -- the command line -------------------------------------------------------------------------------------------------

def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``goodwatch`` in a subprocess, with no store settings but those given (and GOODWATCH_DATA_DIR)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URI")}
    environ.update(env)
    return subprocess.run([GOODWATCH, *args], env=environ, capture_output=True, text=True, timeout=120)


# -- resources pointed at the replica ------------------------------------------------------------------------------------

def replica_environ(replica_url: str, rps: Mapping[str, float | str] | None = None, **environ: str) -> dict[str, str]:
    """This process's environment with every site at the replica, paced at 1000 requests/s unless ``rps``
    (site -> requests/s) says otherwise, and ``environ`` on top: for settings, or for a subprocess. The process's own
    environment is not changed."""
    env = {**os.environ, REPLICA_URL: replica_url}
    env.update({site_variable(site.name, "RPS"): str((rps or {}).get(site.name, 1000)) for site in SITES})
    return {**env, **environ}


def replica_settings(replica_url: str, rps: Mapping[str, float | str] | None = None, **environ: str) -> Settings:
    """The settings of :func:`replica_environ`."""
    return Settings.from_env(replica_environ(replica_url, rps, **environ))


def replica_resources(replica_url: str, rps: Mapping[str, float | str] | None = None, **environ: str) -> dict:
    """Every resource, with every site at the replica (see :func:`replica_settings`)."""
    return build_resources(replica_settings(replica_url, rps, **environ))


def with_queues(resources: dict, **changes) -> dict:
    """``resources`` with every per-title source's queue config changed (``max_attempts``, ``retry_delay_minutes``,
    ``lease_minutes``, ``batch_size`` …)."""
    queues = resources["queues"].queues
    changed = QueuesResource(queues={name: config.model_copy(update=changes) for name, config in queues.items()})
    return {**resources, "queues": changed}


async def fetch_tmdb_details(client: SourceClient, reservation: Reservation) -> FetchedDocument:
    """GET /3/{media}/{id}; strict about the answer, so broken bodies are rejected with their bytes (a minimal handle
    for runs of the work loop against the replica)."""
    response = await client.get(f"/3/{reservation.media}/{reservation.tmdb_id}")
    if response.status_code == 404:
        return FetchedDocument(reservation.media, reservation.tmdb_id, None, status=Status.NOT_FOUND)
    try:
        body = response.json()
    except ValueError:
        raise ParseError("the answer is not JSON", response.content) from None
    if body.get("id") != reservation.tmdb_id or not isinstance(body.get("vote_average"), (int, float)):
        raise ParseError("the answer is not this title's details", response.content)
    return FetchedDocument(reservation.media, reservation.tmdb_id, body, source_url=str(response.url))


# -- every source against the replica ----------------------------------------------------------------------------------

SOURCE_ASSETS = [*PER_TITLE_ASSETS.values(), imdb_ratings]
CANDIDATE_ASSETS = [wikidata_ids, *SITEMAP_ASSETS.values()]
"""The page-finding sources' candidates (Wikidata ids, sitemaps): run after the details, before the sources."""
"""Every source asset but DNA (which has tests of its own): what the truth comparison reads."""
COMPARED_SOURCES = [asset.key.to_user_string() for asset in SOURCE_ASSETS]


def every_source_definitions(replica_url: str, environ: dict[str, str]) -> dg.Definitions:
    """The export and every source asset with their checks, at the replica, with ``environ``'s settings (the main
    job's workers build them from this: Dagster's resources do not survive pickling, their settings do)."""
    from goodwatch_assets.defs.source_checks import source_checks

    return dg.Definitions(
        assets=[tmdb_daily_export, tmdb_changes, *SOURCE_ASSETS, *CANDIDATE_ASSETS],
        asset_checks=[check for spec in (*PER_TITLE_SPECS, imdb.SPEC) for check in source_checks(spec)],
        resources=replica_resources(replica_url, **environ),
    )


def run_every_source(replica_url: str, **environ: str) -> None:
    """The export, then every source asset, as runs recorded on a test instance (the main job's way), at the replica
    with ``environ``'s settings."""
    with dg.instance_for_test() as instance:
        results = run_pipeline(partial(every_source_definitions, replica_url, environ), instance, day=DAY.isoformat())
        assert all(r.success for r in results)
        # the day's files (one run per site); details; IMDb, Wikidata and each site's sitemap; each page source
        assert len(results) == 2 + 32 + (1 + 32 + 2) + 3 * 32


def run_catalog_assets(resources: dict, assets, partitions=None) -> None:
    """Catalog-partitioned assets invoked directly (no run records), over ``partitions`` (default: all 32)."""
    for asset in assets:
        for key in partitions or catalog_partitions.get_partition_keys():
            with dg.build_asset_context(partition_key=key, resources=resources) as context:
                asset(context, config=TitlesConfig())


def run_daily(resources: dict, asset) -> None:
    """A daily asset invoked directly for :data:`DAY`."""
    with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
        asset(context)


def invoke_every_source(resources: dict, *, under_faults: bool = False) -> None:
    """The same asset functions, invoked directly (no run records): for many repeated rounds (``under_faults``: a
    candidates run may fail, see :func:`find_candidates`)."""
    run_daily(resources, tmdb_daily_export)
    run_catalog_assets(resources, [PER_TITLE_ASSETS[tmdb.SPEC.name]])  # the details first: they feed the others
    run_daily(resources, imdb_ratings)
    find_candidates(resources, may_fail=under_faults)
    run_catalog_assets(resources, [asset for name, asset in PER_TITLE_ASSETS.items() if name != tmdb.SPEC.name])


def find_candidates(resources: dict, partitions=None, *, may_fail: bool = False) -> int:
    """The page-finding sources' candidates: the Wikidata ids of ``partitions`` (default: all 32), then every site's
    sitemaps. ``may_fail``: under injected faults a run may fail (an answer broken every time it was asked), as a
    scheduled run would, and the next round asks again; returns how many failed."""
    failed = 0
    for key in partitions or catalog_partitions.get_partition_keys():
        with dg.build_asset_context(partition_key=key, resources=resources) as context:
            try:
                wikidata_ids(context)
            except (ParseError, FetchFailed, RateLimited):
                if not may_fail:
                    raise
                failed += 1
    for asset in SITEMAP_ASSETS.values():
        result = dg.materialize([asset], resources=resources, raise_on_error=not may_fail)
        failed += not result.success
    return failed


def lift_blocks(db: ServingDb) -> None:
    """End the cool-downs of the sites that blocked us: the day they wait has passed."""
    with db.connect() as conn:
        conn.execute("UPDATE source_cooldowns SET until = now() WHERE source IN (SELECT site FROM site_blocks)")


def move_clock_back(db: ServingDb, days: float) -> None:
    """Let ``days`` pass for the document store: every fetch and every due date moved that far into the past."""
    with db.connect() as conn:
        conn.execute("""UPDATE raw.documents SET fetched_at = fetched_at - make_interval(secs => %(s)s),
                                                 next_attempt_at = next_attempt_at - make_interval(secs => %(s)s)""",
                     {"s": days * 86400})


def partition_of(entry) -> str:
    """The catalog partition key of a replica title."""
    return CatalogPartition(entry.media, shard_of(entry.tmdb_id)).key


def page_path(page) -> str:
    """The path of a stored page on its site: ``http://127.0.0.1:port/<site prefix>/<path on the site>``."""
    return "/" + page.url.split("/", 4)[-1]


def twins_page(catalog: SyntheticCatalog, source: str, entry, page, expected: dict | None) -> bool:
    """The page stored for ``entry`` is another catalog title's (whether or not ``entry`` has a page of its own)."""
    owner = catalog.page_owner(source, page_path(page))
    return owner is not None and owner is not entry and (expected is None or page_path(page) != expected["path"])


def compare_with_truth(store, catalog: SyntheticCatalog, day: date, partitions: Collection[str] | None = None):
    """(values compared, wrong values, unexplained misses, explained misses) over every source, for the titles of
    the day's export (of these catalog partitions only, when given)."""
    entries = [e for e in catalog.entries if e.in_export(day)
               and (partitions is None or partition_of(e) in partitions)]
    keys = [(e.media, e.tmdb_id) for e in entries]
    stored = {source: store.get_many(source, keys) for source in COMPARED_SOURCES}
    compared, wrong, explained, unexplained = Counter(), [], Counter(), []

    def check(source, key, field, expected, actual):
        compared[source] += 1
        if expected != actual:
            wrong.append((source, key, field, expected, actual))

    for entry, key in zip(entries, keys, strict=True):
        truth = title_truth(catalog, entry)
        details = stored["tmdb_details"].get(key)
        if details is None or details.status is not Status.OK:  # the other sources wait for the details
            unexplained.append(("tmdb_details", key, f"not settled: {details and details.status}"))
            continue
        record = TitleDetails(**details.record)
        for field in ("vote_average", "vote_count", "imdb_id", "runtime"):
            check("tmdb_details", key, field, truth["tmdb"][field], getattr(record, field))
        check("tmdb_details", key, "genres", truth["tmdb"]["genres"], list(record.genres))
        check("tmdb_details", key, "offers", truth["tmdb"]["offers"],
              sorted([o.country, o.type, o.provider_id] for o in record.offers))

        imdb = stored["imdb_ratings"].get(key)
        if truth["imdb"]:
            check("imdb_ratings", key, "rating", truth["imdb"]["rating"], imdb.payload and imdb.payload["rating"])
            check("imdb_ratings", key, "votes", truth["imdb"]["votes"], imdb.payload and imdb.payload["votes"])
        elif imdb is not None:
            check("imdb_ratings", key, "no rating", "not_found", str(imdb.status))

        for source, model, fields in (
            ("metacritic", MetacriticScores, ("metascore", "critic_count", "user_score", "user_count")),
            ("rotten_tomatoes", RottenTomatoesScores, ("tomatometer", "critic_count", "audience_score",
                                                       "audience_count")),
            ("tvtropes", TropesPage, ("tropes",)),
        ):
            document, expected = stored[source].get(key), truth[source]
            if document is None or document.status not in (Status.OK, Status.NOT_FOUND, Status.DUPLICATE):
                unexplained.append((source, key, f"not settled: {document and document.status}"))
                continue
            page = model(**document.record) if document.status is Status.OK else None
            if page is not None and twins_page(catalog, source, entry, page, expected):
                # A same-title twin's page (same name, year within one) that passed verification and no better
                # claimant took: nothing on the page tells the two apart. Counted apart when the title has no page
                # of its own (its row shows the twin's score).
                explained[f"{source}: a same-title twin's page" + ("" if expected else " (the title has none)")] += 1
                continue
            if expected is None:  # no page upstream: nothing stored (not found, or a twin's page it lost)
                check(source, key, "no page", True, document.status in (Status.NOT_FOUND, Status.DUPLICATE))
                continue
            if document.status is Status.DUPLICATE:  # it claimed a twin's page and lost it; its own was not found
                explained[f"{source}: a twin's page, held by a better claimant"] += 1
                continue
            if page is None:
                reason = document.record.get("not_found")
                if reason in EXPLAINED:
                    explained[f"{source}: {reason}"] += 1
                else:
                    unexplained.append((source, key, reason))
                continue
            path = page_path(page)
            check(source, key, "path", expected["path"], path)
            for field in fields:
                actual = getattr(page, field)
                if field == "tropes":
                    actual, expected_value = sorted(actual), sorted(expected["tropes"])
                else:
                    expected_value = expected[field]
                check(source, key, field, expected_value, actual)
    return compared, wrong, unexplained, explained


# -- DNA ---------------------------------------------------------------------------------------------------------------

DNA_SHARD = 5
DNA_TABLES = "title_dna, title_vectors, dna_labels, text_embeddings, feed_watermarks, llm_budget, source_cooldowns"
ANSWERED_CATEGORIES = {category: ["Label A", "label b"] for category in DNA_CATEGORIES}
"""An answer's DNA with every category filled."""


def answer_for(entries: list[dict]) -> str:
    """A model's answer: JSON with the titles' entries."""
    return orjson.dumps({"titles": entries}).decode()


class CountingBudget:
    """A daily request budget of ``requests``, counting what was taken."""

    def __init__(self, requests: int):
        self.left, self.taken = requests, 0

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        self.taken += 1
        return True


def seed_details(store, catalog: SyntheticCatalog, count: int):
    """TMDB details of ``count`` movies of one shard, queued for DNA (as ``tmdb_details`` does)."""
    entries = [e for e in catalog.entries if e.media == "movie" and shard_of(e.tmdb_id) == DNA_SHARD][:count]
    assert len(entries) == count
    store.upsert(tmdb.SPEC.name, [FetchedDocument("movie", e.tmdb_id, {}, record={
        "title": e.title, "year": e.year, "overview": catalog.details(e).overview}) for e in entries])
    store.enqueue(dna.SPEC.name, [QueueEntry("movie", e.tmdb_id, e.popularity) for e in entries])
    return entries


def dna_prompts(store):
    """The DNA handle's prompts: from the titles' stored TMDB details, as the ``dna`` asset reads them."""
    def prompts(reservations):
        details = store.get_many(tmdb.SPEC.name, [r.key for r in reservations])
        return dna.title_prompts({key: document.record for key, document in details.items()})

    return prompts


def run_dna(store, server: ReplicaServer, budget, *, client: SourceClient | None = None, **kw):
    """One DNA run over :data:`DNA_SHARD`'s movies, against the replica's model (or ``client``'s endpoint)."""
    client = client or SourceClient(replica_settings(server.url).site(dna.LLM))

    async def go():
        async with client:
            report = await fetch_titles(store, client, dna.SPEC.name, dna.SPEC.queue, media="movie", shard=DNA_SHARD,
                                        handle=dna.dna_handle(dna_prompts(store), budget.take, model="test-model",
                                                              titles_per_request=5), **kw)
            return report, client

    return asyncio.run(go())


def stored_dna(store, entries):
    return store.get_many(dna.SPEC.name, [("movie", e.tmdb_id) for e in entries])


def run_with_faults(dna_db, catalog: SyntheticCatalog, count: int, faults: FaultConfig):
    """``count`` titles with details through one DNA run against a replica with ``faults``."""
    store = PostgresDocumentStore(dna_db)
    entries = seed_details(store, catalog, count)
    with ReplicaServer(Replica(catalog, faults)) as server:
        budget = CountingBudget(100)
        report, _ = run_dna(store, server, budget)
    return store, entries, budget, report


# -- lane 2 ---------------------------------------------------------------------------------------------------------------

def requested(result) -> dict[tuple[str, int], dict]:
    """(media, tmdb_id) -> its run request's tags, from a priority-sensor tick's run requests."""
    titles = {}
    for request in result.run_requests:
        partition = CatalogPartition.from_key(request.partition_key)
        ids = {tuple(op["config"]["tmdb_ids"]) for op in request.run_config["ops"].values()}
        assert len(ids) == 1  # every fetching asset of the chain gets the same titles
        for tmdb_id in ids.pop():
            assert shard_of(tmdb_id) == partition.shard
            titles[(partition.media, tmdb_id)] = request.tags
        assert request.asset_selection is None  # the sensor's target: the whole chain
    return titles


# -- the serving tables ------------------------------------------------------------------------------------------------

def clear_serving(db: ServingDb) -> None:
    """Empty serving tables, and the combine's feed positions with them."""
    with db.connect() as conn:
        conn.execute(f"TRUNCATE {SERVING_TABLES}")
        conn.execute("DELETE FROM feed_watermarks WHERE consumer = 'serving'")


def combine_all(db, store, *, full: bool = False) -> CombineStats:
    total = CombineStats()
    for partition in all_catalog_partitions():
        total += Combine(db, store).combine_partition(partition.media, partition.shard, full=full)
    return total


def snapshot(db) -> dict[str, list[tuple]]:
    """Every serving table's rows, sorted; write times left out, obsolete_at as obsolete or not."""
    tables = {}
    with db.connect() as conn:
        for table in ("movies", "tv_shows", "streaming_links", "streaming_providers"):
            names = [name for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table,)).fetchall() if name not in WRITE_TIMES]
            columns = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(n)) if n == "obsolete_at" else sql.Identifier(n)
                       for n in names]
            rows = conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(columns),
                                                                   sql.Identifier(table))).fetchall()
            tables[table] = sorted(rows, key=repr)
    return tables


def written(stats: CombineStats) -> int:
    return (stats.rows_inserted + stats.rows_updated + stats.links_inserted + stats.links_updated
            + stats.links_obsoleted + stats.providers_written)


def mean(values):
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


GOODWATCH_USER_SCORES = [("tmdb_user_score_normalized_percent", "tmdb_user_score_rating_count"),
                         ("imdb_user_score_normalized_percent", "imdb_user_score_rating_count"),
                         ("metacritic_user_score_normalized_percent", "metacritic_user_score_rating_count"),
                         ("rotten_tomatoes_audience_score_normalized_percent",
                          "rotten_tomatoes_audience_score_rating_count")]
GOODWATCH_OFFICIAL_SCORES = [("metacritic_meta_score_normalized_percent", "metacritic_meta_score_review_count"),
                             ("rotten_tomatoes_tomato_score_normalized_percent",
                              "rotten_tomatoes_tomato_score_review_count")]
"""The original GoodWatch formulas' (percent, count) inputs: the specs must keep naming every one of them
(``unit/test_source_specs.py``); a source added later adds its own."""


def expected_aggregates(row: dict) -> dict:
    """The original GoodWatch formulas (means of percents, sums of counts), computed here from the row's own
    per-source columns that the sources' specs name as user and official scores."""
    user = [pair for spec in SERVING_SOURCES for pair in spec.serving.user_scores]
    official = [pair for spec in SERVING_SOURCES for pair in spec.serving.official_scores]

    def count(pairs):
        present = [row[c] or 0 for s, c in pairs if row[s] is not None]
        return sum(present) if present else None

    u, o = mean([row[s] for s, _ in user]), mean([row[s] for s, _ in official])
    uc, oc = count(user), count(official)
    return {"user": u, "user_count": uc, "official": o, "official_count": oc, "overall": mean([u, o]),
            "overall_count": None if uc is None and oc is None else (uc or 0) + (oc or 0)}


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-3)


def row_of(db, media: str, tmdb_id: int) -> dict | None:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} WHERE tmdb_id = %s").format(sql.Identifier(TABLE[media])), (tmdb_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


def links_of(db, media: str, tmdb_id: int) -> dict[tuple, bool]:
    """(country, provider, type) -> current (not obsolete)."""
    with db.connect() as conn:
        rows = conn.execute("""SELECT country_code, provider_id, stream_type, obsolete_at IS NULL FROM streaming_links
                               WHERE media = %s AND tmdb_id = %s""", (media, tmdb_id)).fetchall()
    return {(country, provider, kind): current for country, provider, kind, current in rows}
