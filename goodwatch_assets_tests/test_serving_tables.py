"""The serving tables: end to end against the replica's truth, incremental and idempotent combines, links that
vanish and return, values an upstream lost, and both document-store backends. (A combine interrupted mid-way, killed
or with its database stopped: ``test_fault_suite``.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from psycopg import sql

from goodwatch_assets.assets.dna import dna, dna_vectors
from goodwatch_assets.assets.guessed import metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes
from goodwatch_assets.assets.imdb import imdb_ratings
from goodwatch_assets.assets.serving import serving_tables
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
from goodwatch_assets.models import ImdbRating, MetacriticScores, RottenTomatoesScores, TitleDetails, TropesPage
from goodwatch_assets.partitions import all_catalog_partitions
from goodwatch_assets.pipeline import run_pipeline
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.resources import build_resources
from goodwatch_assets.shards import shard_of
from goodwatch_assets.stores.combine import Combine, CombineStats
from goodwatch_assets.stores.documents import FetchedDocument, Status
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.synth import catalog_chunk, synthesize
from goodwatch_assets_tests.conftest import clear_serving
from goodwatch_assets_tests.test_sources_end_to_end import point_sources_at

TABLE = {"movie": "movies", "tv": "tv_shows"}
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
# Kept out of snapshots: when a row was written, not what it says.
WRITE_TIMES = ("created_at", "updated_at")


def combine_all(db, store, *, full: bool = False) -> CombineStats:
    total = CombineStats()
    for partition in all_catalog_partitions():
        total += Combine(db, store).combine_partition(partition.media, partition.shard, full=full)
    return total


def written(stats: CombineStats) -> int:
    return (stats.rows_inserted + stats.rows_updated + stats.links_inserted + stats.links_updated
            + stats.links_obsoleted + stats.providers_written)


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


def mean(values):
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def expected_aggregates(row: dict) -> dict:
    """The original GoodWatch formulas, computed here from the row's own per-source columns."""
    user = [("tmdb_user_score_normalized_percent", "tmdb_user_score_rating_count"),
            ("imdb_user_score_normalized_percent", "imdb_user_score_rating_count"),
            ("metacritic_user_score_normalized_percent", "metacritic_user_score_rating_count"),
            ("rotten_tomatoes_audience_score_normalized_percent", "rotten_tomatoes_audience_score_rating_count")]
    official = [("metacritic_meta_score_normalized_percent", "metacritic_meta_score_review_count"),
                ("rotten_tomatoes_tomato_score_normalized_percent", "rotten_tomatoes_tomato_score_review_count")]

    def count(pairs):
        present = [row[c] or 0 for s, c in pairs if row[s] is not None]
        return sum(present) if present else None

    u, o = mean([row[s] for s, _ in user]), mean([row[s] for s, _ in official])
    uc, oc = count(user), count(official)
    return {"user": u, "user_count": uc, "official": o, "official_count": oc, "overall": mean([u, o]),
            "overall_count": None if uc is None and oc is None else (uc or 0) + (oc or 0)}


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-3)


# -- end to end against the replica ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serving_pipeline(serving_db):
    """The whole graph on a 300-title replica, as ``goodwatch run`` does it."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents, title_dna, title_vectors, dna_labels, text_embeddings, llm_budget, "
                     "source_cooldowns, feed_watermarks")
    clear_serving(serving_db)
    catalog = SyntheticCatalog(300, seed=21)
    assets = [tmdb_daily_export, tmdb_details, imdb_ratings, metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes,
              dna, dna_vectors, serving_tables]
    with ReplicaServer(Replica(catalog)) as server, pytest.MonkeyPatch.context() as env:
        point_sources_at(env, server.url)
        defs = dg.Definitions(assets=assets, resources=build_resources())
        with dg.instance_for_test() as instance:
            results = run_pipeline(defs, instance, day=DAY.isoformat(), report=lambda _: None)
            assert all(r.success for r in results)
            combines = [r for r in results if dg.AssetKey("movies") in r.dagster_run.asset_selection]
            materialized = {(m.asset_key.to_user_string(), m.partition) for r in combines
                            for m in r.asset_materializations_for_node("serving_tables")}
    assert len(combines) == 32
    assert materialized == {(table, p.key) for p in all_catalog_partitions()
                            for table in ("movies", "tv_shows", "streaming_links", "streaming_providers")}
    present = [e for e in catalog.entries if e.in_export(DAY)]
    return catalog, present


def test_serving_rows_equal_the_stored_documents_and_the_truth(serving_pipeline, serving_db):
    catalog, present = serving_pipeline
    store = PostgresDocumentStore(serving_db)
    keys = [(e.media, e.tmdb_id) for e in present]
    docs = {source: store.get_many(source, keys) for source in
            ("tmdb_details", "imdb_ratings", "metacritic", "rotten_tomatoes", "tvtropes")}
    with serving_db.connect() as conn:
        label_ids = {}
        for media, tmdb_id, label in conn.execute("SELECT media, tmdb_id, label_id FROM title_dna").fetchall():
            label_ids.setdefault((media, tmdb_id), []).append(label)
    compared, wrong_vs_documents, wrong_vs_truth = 0, [], []

    def check(wrong, key, field, expected, actual):
        nonlocal compared
        compared += 1
        same = close(expected, actual) if isinstance(expected, float) or isinstance(actual, float) else expected == actual
        if not same:
            wrong.append((key, field, expected, actual))

    def ok(source, key):
        document = docs[source].get(key)
        return document.record if document is not None and document.status is Status.OK else None

    for entry, key in zip(present, keys, strict=True):
        truth, row = title_truth(catalog, entry), row_of(serving_db, *key)
        assert row is not None, key  # every title with details has its row
        details = TitleDetails(**docs["tmdb_details"][key].record)
        # Id-based sources: equal to the truth itself.
        check(wrong_vs_truth, key, "title", entry.title, row["title"])
        check(wrong_vs_truth, key, "year", entry.year, row["release_year"])
        check(wrong_vs_truth, key, "genres", truth["tmdb"]["genres"], row["genres"])
        voted = truth["tmdb"]["vote_count"] > 0
        check(wrong_vs_truth, key, "tmdb %", truth["tmdb"]["vote_average"] * 10 if voted else None,
              row["tmdb_user_score_normalized_percent"])
        check(wrong_vs_truth, key, "imdb %", truth["imdb"] and truth["imdb"]["rating"] * 10,
              row["imdb_user_score_normalized_percent"])
        check(wrong_vs_truth, key, "links", {(c, p, t) for c, t, p in truth["tmdb"]["offers"]},
              {k for k, current in links_of(serving_db, *key).items() if current})
        check(wrong_vs_truth, key, "countries", sorted({c for c, _, _ in truth["tmdb"]["offers"]}),
              row["streaming_country_codes"])
        # Guessed sources: equal to what was stored (a guess can land on a same-title twin), and to the truth.
        mc, rt, tv = ok("metacritic", key), ok("rotten_tomatoes", key), ok("tvtropes", key)
        mc, rt, tv = (MetacriticScores(**mc) if mc else None, RottenTomatoesScores(**rt) if rt else None,
                      TropesPage(**tv) if tv else None)
        imdb = ImdbRating(**ok("imdb_ratings", key)) if ok("imdb_ratings", key) else None
        for field, expected in (
            ("runtime", details.runtime), ("imdb_id", details.imdb_id),
            ("imdb_user_score_rating_count", imdb and imdb.votes),
            ("metacritic_meta_score_original", mc and mc.metascore),
            ("metacritic_meta_score_review_count", mc and mc.critic_count),
            ("metacritic_user_score_normalized_percent", mc and mc.user_score is not None and mc.user_score * 10 or None),
            ("rotten_tomatoes_tomato_score_original", rt and rt.tomatometer),
            ("rotten_tomatoes_audience_score_original", rt and rt.audience_score),
            ("rotten_tomatoes_audience_score_rating_count", rt and rt.audience_count),
            ("rotten_tomatoes_url", rt and rt.url), ("metacritic_url", mc and mc.url),
            ("trope_names", sorted(tv.tropes) if tv else []),
            ("dna_label_ids", sorted(label_ids.get(key, []))),
        ):
            actual = sorted(row[field]) if field == "trope_names" else row[field]
            check(wrong_vs_documents, key, field, expected, actual)
        for source, field, column in (("metacritic", "metascore", "metacritic_meta_score_original"),
                                      ("rotten_tomatoes", "tomatometer", "rotten_tomatoes_tomato_score_original"),
                                      ("rotten_tomatoes", "audience_score", "rotten_tomatoes_audience_score_original")):
            if ok(source, key):
                check(wrong_vs_truth, key, column, truth[source][field], row[column])
        aggregates = expected_aggregates(row)
        for name, column in (("user", "aggregated_user_score_normalized_percent"),
                             ("user_count", "aggregated_user_score_rating_count"),
                             ("official", "aggregated_official_score_normalized_percent"),
                             ("official_count", "aggregated_official_score_review_count"),
                             ("overall", "aggregated_overall_score_normalized_percent"),
                             ("overall_count", "aggregated_overall_score_voting_count")):
            check(wrong_vs_documents, key, column, aggregates[name], row[column])
    described = sum(1 for key in keys if label_ids.get(key))
    print(f"\nvalues compared {compared}; wrong against the documents {len(wrong_vs_documents)}, against the truth "
          f"{len(wrong_vs_truth)}: {wrong_vs_truth[:3]}; titles with DNA labels {described} of {len(keys)}")
    assert compared > 8_000
    assert wrong_vs_documents == []
    assert len(wrong_vs_truth) <= 0.005 * compared  # guessed pages of same-title, same-year twins only
    assert described >= 0.95 * len(keys)
    with serving_db.connect() as conn:
        providers = dict(conn.execute("SELECT provider_id, name FROM streaming_providers").fetchall())
    from goodwatch_assets.replica.vocabulary import PROVIDERS
    offered = {p for e in present for _, _, p in title_truth(catalog, e)["tmdb"]["offers"]}
    assert providers == {pid: name for pid, name, _ in PROVIDERS if pid in offered}
    store.close()


def test_a_second_combine_with_no_changes_writes_nothing(serving_pipeline, serving_db):
    store = PostgresDocumentStore(serving_db)
    before = snapshot(serving_db)
    with serving_db.connect() as conn:
        stamps = conn.execute("SELECT max(updated_at) FROM movies").fetchone()[0]
    again = combine_all(serving_db, store)
    assert again.changed_titles == 0 and written(again) == 0
    full = combine_all(serving_db, store, full=True)  # every title recombined: still nothing differs
    assert full.changed_titles > 250 and written(full) == 0
    assert snapshot(serving_db) == before
    with serving_db.connect() as conn:
        assert conn.execute("SELECT max(updated_at) FROM movies").fetchone()[0] == stamps
    store.close()


# -- incremental behaviour on synthetic documents -----------------------------------------------------------------

def rewrite(store, source: str, media: str, tmdb_id: int, **changes) -> None:
    """Store a document again with some record fields changed (``status`` too, when given)."""
    document = store.get_many(source, [(media, tmdb_id)])[(media, tmdb_id)]
    status = changes.pop("status", Status.OK)
    record = {**document.record, **changes}
    store.upsert(source, [FetchedDocument(media, tmdb_id, record, record, status=status)])


def test_only_changed_titles_are_read_and_a_vanished_link_becomes_obsolete_then_returns(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=400, shows=100, links=4_000)
    first = combine_all(serving_tables_db, store)
    assert (first.changed_titles, first.rows_inserted) == (500, 500) and first.links_inserted > 3_500
    movie = store.get_many("tmdb_details", [("movie", 7)])[("movie", 7)].record
    assert len(movie["offers"]) >= 2
    gone, kept = movie["offers"][0], movie["offers"][1:]
    gone_key = (gone["country"], gone["provider_id"], gone["type"])

    rewrite(store, "tmdb_details", "movie", 7, offers=kept)
    stats = Combine(serving_tables_db, store).combine_partition("movie", shard_of(7))
    assert (stats.changed_titles, stats.rows_updated, stats.links_obsoleted, stats.links_inserted) == (1, 1, 1, 0)
    links = links_of(serving_tables_db, "movie", 7)
    assert links[gone_key] is False and sum(links.values()) == len(kept)  # kept, marked obsolete
    assert row_of(serving_tables_db, "movie", 7)["streaming_country_codes"] == sorted({o["country"] for o in kept})

    rewrite(store, "tmdb_details", "movie", 7, offers=movie["offers"])
    stats = Combine(serving_tables_db, store).combine_partition("movie", shard_of(7))
    assert (stats.links_updated, stats.links_inserted, stats.links_obsoleted) == (1, 0, 0)  # revived, not re-inserted
    assert links_of(serving_tables_db, "movie", 7)[gone_key] is True
    assert row_of(serving_tables_db, "movie", 7)["streaming_country_codes"] == sorted({o["country"] for o in movie["offers"]})
    store.close()


def test_a_source_that_lost_a_value_keeps_the_stored_one_and_a_new_value_replaces_it(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=300, shows=0, links=1_000)
    combine_all(serving_tables_db, store)
    key = next(k for k, d in store.get_many("rotten_tomatoes", [("movie", i) for i in range(1, 300)]).items()
               if d.status is Status.OK)
    before = row_of(serving_tables_db, *key)
    assert before["rotten_tomatoes_audience_score_original"] is not None

    rewrite(store, "rotten_tomatoes", *key, audience_score=None, audience_count=None)  # the page lost its score
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    after = row_of(serving_tables_db, *key)
    assert after["rotten_tomatoes_audience_score_original"] == before["rotten_tomatoes_audience_score_original"]
    assert after["aggregated_overall_score_normalized_percent"] == before["aggregated_overall_score_normalized_percent"]

    rewrite(store, "rotten_tomatoes", *key, status=Status.NOT_FOUND)  # the page is gone
    rewrite(store, "tvtropes", *key, tropes=[]) if store.get_many("tvtropes", [key]) else None
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    gone = row_of(serving_tables_db, *key)
    assert gone["rotten_tomatoes_tomato_score_original"] == before["rotten_tomatoes_tomato_score_original"]
    assert gone["trope_names"] == before["trope_names"]

    new_score = (before["rotten_tomatoes_audience_score_original"] + 7) % 101
    rewrite(store, "rotten_tomatoes", *key, audience_score=new_score)
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    changed = row_of(serving_tables_db, *key)
    assert changed["rotten_tomatoes_audience_score_original"] == new_score
    assert close(changed["aggregated_user_score_normalized_percent"],
                 expected_aggregates(changed)["user"])
    assert changed["rotten_tomatoes_updated_at"] > before["rotten_tomatoes_updated_at"]
    store.close()


def test_a_tmdb_average_without_votes_is_no_score(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=20, shows=0, links=0)
    rewrite(store, "tmdb_details", "movie", 3, vote_average=0.0, vote_count=0)
    combine_all(serving_tables_db, store)
    row = row_of(serving_tables_db, "movie", 3)
    assert row["tmdb_user_score_normalized_percent"] is None and row["tmdb_user_score_rating_count"] == 0
    store.close()


def test_titles_without_details_wait_and_get_every_source_when_details_arrive(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    frames = catalog_chunk("movie", 1, 41, seed=4, offers_per_title=3)
    for source in ("imdb_ratings", "rotten_tomatoes"):
        store.upsert_frame(source, frames[source])
    assert written(combine_all(serving_tables_db, store)) == 0  # scores alone make no row
    store.upsert_frame("tmdb_details", frames["tmdb_details"])
    combine_all(serving_tables_db, store)
    with serving_tables_db.connect() as conn:
        rows, with_rt = conn.execute("SELECT count(*), count(rotten_tomatoes_audience_score_original) FROM movies").fetchone()
    assert (rows, with_rt) == (40, frames["rotten_tomatoes"].height)
    store.close()


def test_synthetic_records_pass_the_schema_gate():
    frames = catalog_chunk("tv", 1, 201, seed=2, offers_per_title=8)
    import orjson
    models = {"tmdb_details": TitleDetails, "imdb_ratings": ImdbRating, "metacritic": MetacriticScores,
              "rotten_tomatoes": RottenTomatoesScores, "tvtropes": TropesPage}
    for source, model in models.items():
        for text in frames[source]["record"]:
            model(**orjson.loads(text))
    assert frames["offer_count"] == sum(len(orjson.loads(t)["offers"]) for t in frames["tmdb_details"]["record"])
    offers = [orjson.loads(t)["offers"] for t in frames["tmdb_details"]["record"]]
    assert all(len({(o["country"], o["provider_id"], o["type"]) for o in title}) == len(title) for title in offers)


# -- every document-store backend ------------------------------------------------------------------------------------

def test_both_backends_give_the_same_serving_tables(serving_tables_db):
    """On PostgreSQL the combine joins the documents in place; on MongoDB it stages them first: the same rows."""
    from goodwatch_assets.stores.documents import utc_now
    from goodwatch_assets.stores.mongo_documents import MongoDocumentStore
    from goodwatch_assets_tests.conftest import _mongo_database

    client, database = _mongo_database()
    stores = [PostgresDocumentStore(serving_tables_db),
              MongoDocumentStore(database, visibility_lag=timedelta(0), server_clock=utc_now)]
    results = {}
    try:
        for store in stores:
            synthesize(store, movies=150, shows=50, links=1_500, chunk_titles=64)
            first = combine_all(serving_tables_db, store)
            synthesize(store, movies=150, shows=50, links=1_500, revision=1, changed_share=0.2, chunk_titles=64)
            changed = combine_all(serving_tables_db, store)
            assert first.rows_inserted == 200 and 20 <= changed.rows_updated == changed.changed_titles <= 70
            results[store.backend] = (first, changed, strip_update_times(snapshot(serving_tables_db)))
            clear_serving(serving_tables_db)
    finally:
        stores[0].close()
        client.drop_database(database.name)
        client.close()
    assert results["postgres"] == results["mongodb"]


def strip_update_times(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Per-source *_updated_at are when each backend stored a document: drop them to compare backends."""
    return {name: [tuple(v for v in row if not isinstance(v, datetime)) for row in rows] for name, rows in tables.items()}


def test_dna_linked_after_the_combine_reaches_the_serving_row_at_once(serving_tables_db):
    from goodwatch_assets.embedding import Embedder
    from goodwatch_assets.stores.dna_index import DnaIndex, IndexedTitle

    with serving_tables_db.connect() as conn:
        conn.execute("TRUNCATE title_dna, title_vectors, dna_labels CASCADE")
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=10, shows=0, links=0)
    combine_all(serving_tables_db, store)
    assert row_of(serving_tables_db, "movie", 4)["dna_label_ids"] == []
    DnaIndex(serving_tables_db, Embedder()).write_titles(
        [IndexedTitle("movie", 4, "A title", 2001, {"Mood": ["Tense", "Bleak"], "Place": ["Lighthouse"]})])
    with serving_tables_db.connect() as conn:
        linked = sorted(i for (i,) in conn.execute("SELECT label_id FROM title_dna WHERE tmdb_id = 4").fetchall())
    assert len(linked) == 3 and row_of(serving_tables_db, "movie", 4)["dna_label_ids"] == linked
    store.close()
