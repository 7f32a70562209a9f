"""The offline replica: one real HTTP server on loopback that stands in for every upstream.

Each site the pipeline fetches from lives under its own path prefix, the site's name (``/tmdb_api``,
``/rotten_tomatoes``, ``/llm/v1`` …: ``SitePolicy.replica_prefix``), so each site's base URL setting points at
the replica exactly as it would point at the real site. IMDb's title pages are served under ``/imdb`` too, though
the pipeline does not fetch them (IMDb refuses crawlers; its datasets carry the ratings).

Faults (:mod:`faults`) apply per request: the site's rate limit first (answered 429, or 403 where
the real site does that), then latency, 5xx, malformed bodies and truncated downloads. Every request
is logged with its time and status, so tests and benchmarks count what the upstream saw.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from goodwatch_assets.replica import imdb, llm, sitemaps, tmdb, wikidata
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, FaultInjector
from goodwatch_assets.replica.title_pages import TitlePages, title_page_sites
from goodwatch_assets.replica.truth import ground_truth
from goodwatch_assets.sources import dna as dna_source
from goodwatch_assets.sources import imdb as imdb_source
from goodwatch_assets.sources import tmdb as tmdb_source
from goodwatch_assets.sources import wikidata as wikidata_source
from goodwatch_assets.sources.registry import SITES

PREFIXES = {**{site.name: site.replica_prefix for site in SITES}, "imdb": "/imdb"}
"""Where each upstream lives on the replica: every site the pipeline fetches from, and IMDb's title pages."""
_FILES, _API = PREFIXES[tmdb_source.FILES.name], PREFIXES[tmdb_source.API.name]
_DATASETS, _LLM = PREFIXES[imdb_source.SPEC.site.name], PREFIXES[dna_source.LLM.name]
_WIKIDATA = PREFIXES[wikidata_source.SITE.name]
_CHALLENGE_PAGE = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
                   b"<div id=\"challenge-running\">Checking if the site connection is secure</div>"
                   b"<noscript>Enable JavaScript and cookies to continue</noscript></body></html>")
_NO_DATA_PAGE = (b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><div id=\"consent\">"
                 b"We value your privacy</div></body></html>")

_EXPORT_NAME = re.compile(r"^(movie_ids|tv_series_ids)_(\d{2})_(\d{2})_(\d{4})\.json\.gz$")


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.monotonic() when the request arrived
    wall: float  # time.time() at the same moment (to compare with timestamps stored elsewhere)
    site: str
    path: str
    status: int
    fault: str | None = None  # rate_limited, error, malformed or truncated


class Replica:
    """The app and its state; :class:`ReplicaServer` serves it on a socket."""

    def __init__(self, catalog: SyntheticCatalog, faults: FaultConfig | None = None, today: date | None = None):
        self.catalog = catalog
        self.faults = FaultInjector(faults or FaultConfig())
        self.today = today or datetime.now(UTC).date()
        self.log: list[RequestRecord] = []
        self._files: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()
        # How each site says "too many requests" (the original pipeline saw 403 from the guessed-URL sites).
        self._rate_limit_status = {pages.site: pages.rate_limit_status for pages in title_page_sites()}
        self.app = Starlette(routes=[
            Route(_FILES + "/p/exports/{name}", self._export),
            Route(_API + "/3/trending/{media}/{window}", self._trending),
            Route(_API + "/3/{media}/changes", self._changes),
            Route(_API + "/3/{media}/{tmdb_id:int}", self._tmdb_details),
            Route(_API + "/3/{media}/{tmdb_id:int}/watch/providers", self._tmdb_providers),
            Route(_DATASETS + "/{name}", self._imdb_dataset),
            Route(PREFIXES["imdb"] + "/title/{imdb_id}/", self._imdb_title),
            Route(_WIKIDATA + "/sparql", self._sparql, methods=["GET", "POST"]),
            *(route for pages in title_page_sites() if pages.source.finding and pages.source.finding.sitemap
              for route in self._sitemap_routes(pages)),
            *(Route(PREFIXES[pages.site] + "/{path:path}", self._title_page(pages)) for pages in title_page_sites()),
            Route(_LLM + "/chat/completions", self._chat, methods=["POST"]),
            Route("/_replica/requests", self._requests),
            Route("/_replica/truth", self._truth),
            Route("/_replica/health", lambda request: JSONResponse({"titles": self.catalog.size})),
            Route("/{path:path}", self._unrouted, methods=["GET", "POST"]),
        ])
        self.app.router.redirect_slashes = False  # an unknown path is a 404, as on the sites

    def requests(self, site: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.log if site is None or r.site == site]

    # -- the fault pipeline ------------------------------------------------------------------

    async def _serve(self, request: Request, site: str, render, malform=None) -> Response:
        path = request.url.path
        arrived = time.monotonic()
        if not self.faults.admit(site, arrived):
            status = self._rate_limit_status.get(site, 429)
            response: Response = Response("Too Many Requests" if status == 429 else "Forbidden", status,
                                          headers={"Retry-After": str(self.faults.config.retry_after_s)})
            return self._logged(arrived, site, path, response, "rate_limited")
        faults = self.faults.draw(site, path)
        if faults["block"]:
            return self._logged(arrived, site, path, self._block(), "blocked")
        if self.faults.config.latency_ms:
            await asyncio.sleep(self.faults.config.latency_ms / 1000)
        if faults["error"]:
            status = (500, 502, 503)[len(path) % 3]
            return self._logged(arrived, site, path, Response("upstream error", status), "error")
        rendered = render()
        if rendered is None:
            return self._logged(arrived, site, path, Response("Not Found", 404))
        body, media_type = rendered
        if isinstance(body, (dict, list)):
            body, media_type = orjson.dumps(body), "application/json"
        if isinstance(body, str):
            body = body.encode()
        fault = None
        if faults["malformed"] and media_type != "application/gzip":
            body, fault = (malform or _malformed)(body), "malformed"
        if faults["truncate"] and media_type == "application/gzip":
            body, fault = body[: max(10, len(body) // 2)], "truncated"
        return self._logged(arrived, site, path, Response(body, 200, media_type=media_type), fault)

    def _block(self) -> Response:
        """A block of the configured kind, the way Cloudflare-fronted sites answer a crawler they stopped."""
        kind = self.faults.config.block_kind
        if kind == "challenge":
            return Response(_CHALLENGE_PAGE, 403, media_type="text/html", headers={"cf-mitigated": "challenge"})
        if kind == "empty-202":
            return Response(b"", 202)
        return Response(_CHALLENGE_PAGE if kind == "challenge-page" else _NO_DATA_PAGE, 200, media_type="text/html")

    def _logged(self, arrived: float, site: str, path: str, response: Response, fault: str | None = None) -> Response:
        with self._lock:
            wall = time.time() - (time.monotonic() - arrived)
            self.log.append(RequestRecord(arrived, wall, site, path, response.status_code, fault))
        return response

    # -- endpoints ---------------------------------------------------------------------------

    async def _export(self, request: Request) -> Response:
        def render():
            match = _EXPORT_NAME.match(request.path_params["name"])
            if not match:
                return None
            kind, month, day, year = match.groups()
            when = date(int(year), int(month), int(day))
            if when > self.today:
                return None
            media = "movie" if kind == "movie_ids" else "tv"
            return self._file(("export", f"{media}:{when}"), lambda: tmdb.export_file(self.catalog, media, when)), \
                "application/gzip"

        return await self._serve(request, tmdb_source.FILES.name, render)

    async def _tmdb_details(self, request: Request) -> Response:
        def render():
            entry = self._entry(request.path_params["media"], request.path_params["tmdb_id"])
            if entry is None:
                return None
            appends = {a.strip() for a in request.query_params.get("append_to_response", "").split(",") if a.strip()}
            return tmdb.details(self.catalog, entry, appends), None

        return await self._serve(request, tmdb_source.API.name, render)

    async def _tmdb_providers(self, request: Request) -> Response:
        def render():
            entry = self._entry(request.path_params["media"], request.path_params["tmdb_id"])
            return None if entry is None else (tmdb.watch_providers(entry, self.catalog.details(entry)), None)

        return await self._serve(request, tmdb_source.API.name, render)

    async def _trending(self, request: Request) -> Response:
        def render():
            media, window = request.path_params["media"], request.path_params["window"]
            if media not in ("movie", "tv", "all") or window not in ("day", "week"):
                return None
            page = int(request.query_params.get("page", "1"))
            return tmdb.trending(self.catalog, media, window, self.today, page), None

        return await self._serve(request, tmdb_source.API.name, render)

    async def _changes(self, request: Request) -> Response:
        def render():
            media = request.path_params["media"]
            if media not in ("movie", "tv"):
                return None
            try:
                day = date.fromisoformat(request.query_params.get("start_date") or self.today.isoformat())
                page = int(request.query_params.get("page", "1"))
            except ValueError:
                return {"status_code": 22, "status_message": "Invalid date range or page."}, None
            return tmdb.changes(self.catalog, media, day, page), None

        return await self._serve(request, tmdb_source.API.name, render)

    async def _sparql(self, request: Request) -> Response:
        """The query service: results JSON, with its faults (a timed-out query is answered 200 with a stack trace)."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        query = request.query_params.get("query") or next(iter(form.get("query") or []), "")
        faults = self.faults.draw("wikidata-answers", request.url.path)

        def render():
            found = wikidata.answer(self.catalog, str(query))
            if found is None:
                return None
            if faults["sparql_short"]:
                found = wikidata.shortened(found)
            body = orjson.dumps(found)
            if faults["sparql_timeout"]:
                return wikidata.timed_out(body), "application/sparql-results+json"
            return body, "application/sparql-results+json"

        return await self._serve(request, wikidata_source.SITE.name, render)

    def _sitemap_routes(self, pages: TitlePages) -> list[Route]:
        prefix = PREFIXES[pages.site]

        async def index(request: Request) -> Response:
            return await self._serve(request, pages.site, lambda: (self._file(
                ("sitemap", pages.name), lambda: sitemaps.index(self.catalog, pages)), "application/xml"))

        async def urlset(request: Request) -> Response:
            name = request.path_params["name"]

            def render():
                body = self._file(("sitemap", f"{pages.name}/{name}"),
                                  lambda: (sitemaps.urlset(self.catalog, pages, name) or "").encode())
                return (body, "application/xml") if body else None

            return await self._serve(request, pages.site, render)

        return [Route(prefix + pages.source.finding.sitemap, index), Route(prefix + "/sitemaps/{name}", urlset)]

    async def _imdb_dataset(self, request: Request) -> Response:
        builders = {"title.ratings.tsv.gz": imdb.ratings_file, "title.basics.tsv.gz": imdb.basics_file}

        def render():
            build = builders.get(request.path_params["name"])
            if build is None:
                return None
            return self._file(("imdb", request.path_params["name"]), lambda: build(self.catalog)), "application/gzip"

        return await self._serve(request, imdb_source.SPEC.site.name, render)

    async def _imdb_title(self, request: Request) -> Response:
        def render():
            entry = self.catalog.by_imdb_id(request.path_params["imdb_id"])
            return None if entry is None else (imdb.title_page(self.catalog, entry), "text/html")

        return await self._serve(request, "imdb", render, _breaking((b'"aboveTheFoldData":{', b'"aboveTheFoldData":{{')))

    def _title_page(self, pages: TitlePages):
        """A guessed-URL site: the page of the title that owns the path, or one of the site's other pages."""

        async def serve(request: Request) -> Response:
            def render():
                path = "/" + request.path_params["path"]
                entry = self.catalog.page_owner(pages.name, path)
                if entry is not None:
                    return pages.render(self.catalog, entry, self.catalog.details(entry).pages[pages.name]), "text/html"
                page = pages.extra_page(self.catalog, path) if pages.extra_page else None
                return None if page is None else (page, "text/html")

            return await self._serve(request, pages.site, render, _breaking(*pages.breaking))

        return serve

    async def _chat(self, request: Request) -> Response:
        payload = await request.json()
        messages = payload.get("messages") or []
        model = payload.get("model", "replica")

        def render():
            answer = orjson.dumps(llm.dna_answer(self.catalog, messages)).decode()
            prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
            return llm.completion(model, answer, prompt_chars), None

        def malform(body: bytes) -> bytes:
            # The API envelope stays valid; the model's answer inside it is cut short.
            content = orjson.loads(body)["choices"][0]["message"]["content"]
            return orjson.dumps(llm.completion(model, content[: len(content) // 2], 0))

        return await self._serve(request, dna_source.LLM.name, render, malform)

    async def _unrouted(self, request: Request) -> Response:
        """A path no site has: answered 404 and logged against the site whose prefix it carries."""
        path = request.url.path
        site = next((s for s, prefix in PREFIXES.items() if path.startswith(prefix + "/")), "unknown")
        return await self._serve(request, site, lambda: None)

    async def _requests(self, request: Request) -> Response:
        site = request.query_params.get("site")
        return JSONResponse([[r.at, r.wall, r.site, r.path, r.status, r.fault] for r in self.requests(site)])

    async def _truth(self, request: Request) -> Response:
        lines = b"\n".join(orjson.dumps(t) for t in ground_truth(self.catalog))
        return Response(lines + b"\n", media_type="application/x-ndjson")

    # -- helpers -----------------------------------------------------------------------------

    def _entry(self, media: str, tmdb_id: int):
        return self.catalog.entry(media, tmdb_id) if media in ("movie", "tv") else None

    def _file(self, key: tuple[str, str], build) -> bytes:
        cached = self._files.get(key)
        if cached is None:
            cached = self._files[key] = build()
        return cached


def _breaking(*replacements) -> Callable[[bytes], bytes]:
    """A page's data-carrying element broken (bad JSON, unreadable score, missing article), so that a
    correct parser must reject the page rather than read a wrong value from it."""

    def malform(body: bytes) -> bytes:
        for old, new in replacements:
            body = body.replace(old, new)
        return body

    return malform


def _malformed(body: bytes) -> bytes:
    """Break a body the way broken pages come: cut short, or numbers out of range."""
    if len(body) % 2:
        return body[: len(body) * 3 // 5]
    return re.sub(rb'"(score|ratingValue|vote_average)":\s*"?(\d+)', rb'"\1":"9\2', body, count=3) + b"<!-- x -->"


class ReplicaServer:
    """Serve a :class:`Replica` on loopback, in a background thread; a context manager."""

    def __init__(self, replica: Replica, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.replica = replica
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(2048)  # connections wait in the backlog until the server loop accepts them
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(replica.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_urls(self) -> dict[str, str]:
        return {site: self.url + prefix for site, prefix in PREFIXES.items()}

    def start(self) -> ReplicaServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._socket.close()

    def serve_forever(self) -> None:
        self._server.run(sockets=[self._socket])

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
