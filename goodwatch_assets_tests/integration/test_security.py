"""Security: parsing reads no entities and fetches nothing, values that look like SQL stay values, and the project's
servers listen on loopback. (Guessed URLs and SQL text: ``unit/test_security_static``; secrets:
``end_to_end/test_secrets``.)"""

from __future__ import annotations

import http.server
import threading

import pytest

from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes
from goodwatch_assets.sources.markup import parse_html
from goodwatch_assets_tests.helpers import PROJECT


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


def test_values_that_look_like_sql_are_stored_and_searched_as_plain_values(serving_db):
    from goodwatch_assets.lib.demand import DemandError, record_event
    from goodwatch_assets.lib.search import Search, SearchError
    from goodwatch_assets.models.queue import FetchedDocument
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


def test_the_projects_servers_listen_on_loopback_by_default(serving_db):
    import inspect

    from goodwatch_assets.cli.replica import replica_serve
    from goodwatch_assets.replica.server import ReplicaServer

    assert inspect.signature(ReplicaServer).parameters["host"].default == "127.0.0.1"
    assert next(p for p in replica_serve.params if p.name == "host").default == "127.0.0.1"
    with serving_db.connect() as conn:  # the embedded PostgreSQL: a Unix socket, no TCP port at all
        assert conn.info.host.startswith("/") and conn.execute("SHOW listen_addresses").fetchone()[0] == ""
    readme = (PROJECT / "README.md").read_text()
    assert "dagster dev -w workspace.yaml -h 127.0.0.1" in readme
