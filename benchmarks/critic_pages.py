"""The right page for every title: what the page-finding sources (Metacritic, Rotten Tomatoes, TV Tropes) store,
against the replica's ground truth, and what it costs in requests, with their guessing settings as shipped and
inverted.

For each setting: a fresh embedded store and an in-process replica of N titles (seed S). The day's export, TMDB
details, the Wikidata ids and the sitemaps, then every page-finding source over every catalog partition: the first
pass. Then the clock moves on by ``--days`` (every stored timestamp is moved back that far) and the sources run
again: the steady state, where only what is due is fetched again. For each source, over the titles of the day's
export:

* equal: a page stored, the title's own, with the truth's values;
* missing: the title has a page upstream and none is stored (not found, rejected, lost to another title);
* wrong: a page stored that is not the title's (a same-title twin's, or a page for a title that has none), or its
  values differ from the truth. "wrong %" is of the stored pages, "missing %" of the titles with a page upstream;
* requests per title, per site, in each pass (the replica's own log; the sitemaps' requests apart), and how many
  titles the steady state asked again that the first pass had found to have no page (the negative cache says:
  none).

    .venv/bin/python benchmarks/critic_pages.py [--titles 2000] [--seed 1] [--days 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, tmdb_daily_export
from goodwatch_assets.defs.sources.page_candidates import SITEMAP_ASSETS, wikidata_ids
from goodwatch_assets.defs.title_runs import TitlesConfig
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import MEDIA_TYPES, SHARD_COUNT
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.title_pages import title_page_sites
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.settings import DATA_DIR, REPLICA_URL, Settings, site_variable
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES, SITES
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import open_serving_db

DAY = (datetime.now(UTC) - timedelta(days=1)).date()
PARTITIONS = [f"{media}|{shard:02d}" for media in MEDIA_TYPES for shard in range(SHARD_COUNT)]
VALUE_FIELDS = {"metacritic": ("metascore", "user_score"), "rotten_tomatoes": ("tomatometer", "audience_score"),
                "tvtropes": ("tropes",)}


def run(resources, assets) -> None:
    for asset in assets:
        for key in PARTITIONS:
            with dg.build_asset_context(partition_key=key, resources=resources) as context:
                asset(context, config=TitlesConfig())


def find_candidates(resources) -> None:
    """The Wikidata ids of every partition and every site's sitemaps."""
    for key in PARTITIONS:
        with dg.build_asset_context(partition_key=key, resources=resources) as context:
            wikidata_ids(context)
    for asset in SITEMAP_ASSETS.values():
        dg.materialize([asset], resources=resources)


def page_path(url: str) -> str:
    """``http://host:port/<site prefix>/<path on the site>`` -> ``/<path on the site>``."""
    return "/" + url.split("/", 4)[-1]


def judge(store, catalog: SyntheticCatalog, source: str) -> Counter:
    entries = [e for e in catalog.entries if e.in_export(DAY)]
    stored = store.get_many(source, [(e.media, e.tmdb_id) for e in entries])
    counts = Counter()
    for entry in entries:
        truth = title_truth(catalog, entry)[source]
        document = stored.get((entry.media, entry.tmdb_id))
        has_page = document is not None and document.status is Status.OK and document.record
        counts["upstream"] += truth is not None
        counts["stored"] += bool(has_page)
        if not has_page:
            counts["missing"] += truth is not None
            continue
        record = document.record
        same_page = truth is not None and page_path(record["url"]) == truth["path"]
        values = all(_same(field, record.get(field), truth.get(field)) for field in VALUE_FIELDS[source]) \
            if truth else False
        counts["equal" if same_page and values else "wrong"] += 1
    return counts


def _same(field: str, stored, true) -> bool:
    if field == "tropes":
        return sorted(stored or []) == sorted(true or [])
    return stored == true


def page_requests(log, site: str) -> int:
    """Requests for a site's title pages (its sitemaps apart)."""
    return sum(1 for r in log if r.site == site and "sitemap" not in r.path)


def move_clock_back(db, days: int) -> None:
    with db.connect() as conn:
        conn.execute("""UPDATE raw.documents SET fetched_at = fetched_at - make_interval(days => %(d)s),
                                                 next_attempt_at = next_attempt_at - make_interval(days => %(d)s)""",
                     {"d": days})


def measure(catalog: SyntheticCatalog, days: int, guessing: dict[str, bool]) -> dict:
    """Both passes with these guessing settings: per source, the judged counts and the requests of each pass."""
    page_sources = [pages.name for pages in title_page_sites()]
    sites = {pages.name: pages.site for pages in title_page_sites()}
    with tempfile.TemporaryDirectory(prefix="goodwatch-critic-pages-") as data_dir, \
            ReplicaServer(Replica(catalog)) as server:
        environ = {**os.environ, DATA_DIR: data_dir, REPLICA_URL: server.url,
                   **{site_variable(site.name, "RPS"): "1000" for site in SITES},
                   **{site_variable(source, "GUESSING"): str(on).lower() for source, on in guessing.items()}}
        resources = build_resources(Settings.from_env(environ))
        db = open_serving_db(Settings.from_env(environ).stores)
        store = PostgresDocumentStore(db)
        with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
            tmdb_daily_export(context)
        run(resources, [PER_TITLE_ASSETS[tmdb.SPEC.name]])
        find_candidates(resources)
        keys = [(e.media, e.tmdb_id) for e in catalog.entries]
        result = {source: {"asked_again": 0} for source in page_sources}
        for number in (1, 2):
            if number == 2:
                move_clock_back(db, days)
            for source in page_sources:
                titles = sum(store.count_by_status(source).values())
                negative = {k: d.fetched_at for k, d in store.get_many(source, keys).items()
                            if d.status in (Status.NOT_FOUND, Status.DUPLICATE)}
                before = len(server.replica.requests())
                run(resources, [PER_TITLE_ASSETS[source]])
                requests = page_requests(server.replica.requests()[before:], sites[source])
                result[source][f"pass {number}"] = requests / titles if titles else 0.0
                if number == 2:  # titles the first pass found nothing for, fetched again in the second
                    after = store.get_many(source, list(negative))
                    result[source]["asked_again"] = sum(after[k].fetched_at != at for k, at in negative.items())
        for source in page_sources:
            result[source]["counts"] = judge(store, catalog, source)
        store.close()
    return result


def report(result: dict, guessing: dict[str, bool]) -> None:
    print(f"{'source':<16} {'guessing':>8} {'equal':>7} {'missing':>8} {'wrong':>7}   {'stored':>6} {'upstream':>8}   "
          f"{'missing %':>9} {'wrong %':>8}   {'req/title 1st':>13} {'req/title 2nd':>13} {'no page, asked again':>20}")
    for source, measured in result.items():
        counts = measured["counts"]
        print(f"{source:<16} {'on' if guessing[source] else 'off':>8} {counts['equal']:>7} {counts['missing']:>8} "
              f"{counts['wrong']:>7}   {counts['stored']:>6} {counts['upstream']:>8}   "
              f"{100 * counts['missing'] / max(counts['upstream'], 1):>8.2f}% "
              f"{100 * counts['wrong'] / max(counts['stored'], 1):>7.2f}%   {measured['pass 1']:>13.2f} "
              f"{measured['pass 2']:>13.2f} {measured['asked_again']:>20}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--titles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30, help="how far the clock moves between the two passes")
    args = parser.parse_args()
    catalog = SyntheticCatalog(args.titles, args.seed)
    shipped = {spec.name: spec.finding.guessing for spec in PER_TITLE_SOURCES if spec.finding}
    print(f"replica: {args.titles} titles, seed {args.seed}; second pass {args.days} days after the first")
    for guessing in (shipped, {source: not on for source, on in shipped.items()}):
        report(measure(catalog, args.days, guessing), guessing)


if __name__ == "__main__":
    main()
