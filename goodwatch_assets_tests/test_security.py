"""Security: guessed URLs stay on their site, parsing reads no entities and fetches nothing, SQL never carries a
value in its text, secrets never reach logs or run records, and the project's servers listen on loopback."""

from __future__ import annotations

import ast
import http.server
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest

from goodwatch_assets.fetching.policy import LIVE_POLICIES
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes
from goodwatch_assets.sources.markup import parse_html

PACKAGE = Path(__file__).resolve().parents[1] / "goodwatch_assets"
HOSTILE_TITLES = ["../../admin", "http://collector.invalid/x", "//collector.invalid", "a/../../b", "%2e%2e%2fetc",
                  "Tom & Jerry?x=1#frag", "\\\\collector.invalid\\share", "Ünïcødé: The Return", "@collector.invalid"]


@pytest.mark.parametrize(("module", "policy"), [(metacritic, "metacritic"), (rotten_tomatoes, "rotten_tomatoes"),
                                                (tvtropes, "tvtropes")])
def test_guessed_urls_stay_on_the_sources_host_whatever_the_title(module, policy):
    policy = LIVE_POLICIES[policy]
    host = urlsplit(policy.base_url).hostname
    for media in ("movie", "tv"):
        for title in HOSTILE_TITLES:
            for path in module.candidate_paths(media, [title], 1999):
                url = urlsplit(policy.url(path))
                assert (url.scheme, url.hostname) == ("https", host), (title, path)
                assert ".." not in url.path.split("/") and not url.query and not url.fragment, (title, path)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server hook's name
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<!ENTITY leaked 'LEAKED'>")

    def log_message(self, *args):
        pass


def test_html_parsing_resolves_no_entities_and_fetches_nothing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    page = f"""<?xml version="1.0"?>
<!DOCTYPE html [
  <!ENTITY file SYSTEM "file://{secret}">
  <!ENTITY remote SYSTEM "http://127.0.0.1:{port}/entity">
  <!ENTITY % dtd SYSTEM "http://127.0.0.1:{port}/dtd"> %dtd;
]>
<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/css"></head>
<body><h1>&file;</h1><p>&remote;</p><img src="http://127.0.0.1:{port}/img">
<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}"/></body></html>"""
    try:
        tree = parse_html(page)
        for parse in (metacritic.parse_page, rotten_tomatoes.parse_page, tvtropes.parse_article):
            try:
                parse(page)
            except Exception as error:  # noqa: BLE001 - only what it read matters here
                assert "TOP-SECRET" not in str(error)
    finally:
        server.shutdown()
    text = tree.text_content()
    assert "TOP-SECRET-CONTENT" not in text and "LEAKED" not in text
    assert _Recorder.hits == []  # nothing was fetched


# -- SQL ------------------------------------------------------------------------------------------------------------

# Names an f-string of SQL may interpolate: constants of the module (upper case) and the identifiers and fragments
# the stores build from their own constants (table names, column lists, lane conditions, aliases of sources).
INTERNAL_SQL_PARTS = {"table", "columns", "condition", "order", "alias", "c.merged", "c.name", "expr", "name"}


def _sql_calls():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and node.func.attr in ("execute", "executemany", "copy", "SQL")
                    and isinstance(node.args[0], ast.JoinedStr)):
                yield path, node


def test_sql_text_interpolates_only_constants_and_internal_identifiers():
    found = 0
    for path, node in _sql_calls():
        for part in node.args[0].values:
            if isinstance(part, ast.FormattedValue):
                found += 1
                name = ast.unparse(part.value)
                constant = name.lstrip("_").split(".")[-1].lstrip("_").isupper()
                assert constant or name in INTERNAL_SQL_PARTS, f"{path.name}:{node.lineno} interpolates {name!r}"
    assert found > 10  # the scan sees the stores' SQL


def test_values_that_look_like_sql_are_stored_and_searched_as_plain_values(serving_db):
    from goodwatch_assets.demand import DemandError, record_event
    from goodwatch_assets.search import Search, SearchError
    from goodwatch_assets.stores.documents import FetchedDocument
    from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

    hostile = "x'); DROP TABLE movies; --"
    with pytest.raises(DemandError):
        record_event(serving_db, hostile, 1, "view")
    with pytest.raises(SearchError):
        Search(serving_db).by_dna([f"Mood={hostile}"])
    store = PostgresDocumentStore(serving_db)
    store.upsert("tmdb_details", [FetchedDocument("movie", 4242, {"title": hostile}, {"title": hostile})])
    assert store.get_many("tmdb_details", [("movie", 4242)])[("movie", 4242)].record["title"] == hostile
    store.close()
    with serving_db.connect() as conn:
        assert conn.execute("SELECT to_regclass('movies')").fetchone()[0] == "movies"


# -- secrets --------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_recognisable_key_never_reaches_logs_events_or_run_metadata(clean_serving_db, monkeypatch, tmp_path, capfd):
    from goodwatch_assets.assets.dna import dna
    from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
    from goodwatch_assets.replica.catalog import SyntheticCatalog
    from goodwatch_assets.replica.server import Replica, ReplicaServer
    from goodwatch_assets.resources import build_resources
    from goodwatch_assets_tests.test_sources_end_to_end import DAY, point_sources_at

    tmdb_key, llm_key = "tmdbkey-RECOGNISABLE-4242", "sk-RECOGNISABLE-llm-4242"
    monkeypatch.setenv("TMDB_API_KEY", tmdb_key)
    monkeypatch.setenv("LLM_API_KEY", llm_key)
    seen = []

    class Everything(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    (tmp_path / "instance").mkdir()
    handler = Everything(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        with ReplicaServer(Replica(SyntheticCatalog(60, seed=71))) as server, dg.instance_for_test(
                temp_dir=str(tmp_path / "instance")) as instance:
            point_sources_at(monkeypatch, server.url)
            resources = build_resources()
            results = [dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(), resources=resources,
                                      instance=instance)]
            for asset in (tmdb_details, dna):
                results.append(dg.materialize([asset], partition_key="movie|03", resources=resources, instance=instance))
            assert all(r.success for r in results)
            events = [str(record) for r in results for record in instance.all_logs(r.run_id)]
            runs = [str(instance.get_run_by_id(r.run_id)) for r in results]
            served = server.replica.requests()
        files = [p.read_text(errors="replace") for p in (tmp_path / "instance").rglob("*") if p.is_file()
                 and p.suffix not in (".db", ".db-wal", ".db-shm")]
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)
    out, err = capfd.readouterr()
    # The requests that carry the keys (TMDB's api_key parameter, the LLM's bearer header) were really made.
    assert any(r.path.startswith("/tmdb-api/3/movie/") for r in served)
    assert any(r.path.startswith("/llm/v1/chat/completions") for r in served)
    for key in (tmdb_key, llm_key):
        for where, texts in (("logging", seen), ("event records", events), ("run records", runs),
                             ("instance files (compute logs)", files), ("stdout/stderr", [out, err])):
            assert not any(key in text for text in texts), f"{key} found in {where}"


def test_the_projects_servers_listen_on_loopback_by_default(serving_db):
    import inspect

    from goodwatch_assets.cli import replica_serve
    from goodwatch_assets.replica.server import ReplicaServer

    assert inspect.signature(ReplicaServer).parameters["host"].default == "127.0.0.1"
    assert next(p for p in replica_serve.params if p.name == "host").default == "127.0.0.1"
    with serving_db.connect() as conn:  # the embedded PostgreSQL: a Unix socket, no TCP port at all
        assert conn.info.host.startswith("/") and conn.execute("SHOW listen_addresses").fetchone()[0] == ""
    readme = (PACKAGE.parent / "README.md").read_text()
    assert "dagster dev -w workspace.yaml -h 127.0.0.1" in readme
