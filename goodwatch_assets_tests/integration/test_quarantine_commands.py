"""``goodwatch quarantine`` (list, show, replay, release, and bad input) and the ``quarantine_replay`` /
``quarantine_release`` jobs, on the embedded store: what they print, and what the store holds after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from goodwatch_assets.cli import main
from goodwatch_assets.defs.quarantine import quarantine_release, quarantine_replay
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, RetryPolicy, Status
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.sources import dna, metacritic, tmdb
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import SHARED_FIXTURES, FakeClock, replica_resources
from goodwatch_assets_tests.integration.test_quarantine import details_answer

PAGE = b"<html><body>" + b"<p>a layout the old parser did not know</p>" * 100 + b"</body></html>"  # 4,326 bytes
QUARANTINED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    store.clock = FakeClock(QUARANTINED_AT)
    yield store
    store.close()


def goodwatch(db, *args: str):
    """The command, in process, on ``db``."""
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": db.url, "MONGODB_URI": None})


@pytest.fixture
def three_sources(store):
    """A page that did not parse (12:00), a DNA answer re-asked in vain (13:00), details that failed five times without
    a body (14:00), and a title that is fine."""
    store.enqueue(metacritic.SPEC.name, [QueueEntry("movie", 101, hints={"title": "A Title", "year": 2001}),
                                         QueueEntry("movie", 102, hints={"title": "Fine", "year": 2002})])
    store.fail(metacritic.SPEC.name, ("movie", 101), "the Metacritic page has an unexpected shape: KeyError",
               policy=RetryPolicy(max_attempts=1), raw_body=PAGE, url=metacritic.SITE.url("/movie/a-title/"))
    store.upsert(metacritic.SPEC.name, [metacritic_document(102)])
    store.clock.advance(hours=1)
    store.quarantine(dna.SPEC.name, ("movie", 202), "unusable after 2 re-asks: the answer is not JSON\n(line 2)",
                     b'{"titles": [', url=None)
    store.clock.advance(hours=1)
    store.enqueue(tmdb.SPEC.name, [QueueEntry("tv", 303)])
    for _ in range(2):
        store.fail(tmdb.SPEC.name, ("tv", 303), "tmdb_api: GET /3/tv/303 failed 3 times, last: HTTP 503",
                   policy=RetryPolicy(max_attempts=2))
    return store


def metacritic_document(tmdb_id: int) -> FetchedDocument:
    return FetchedDocument("movie", tmdb_id, {"metascore": 70}, record={"metascore": 70})


def test_list_shows_the_newest_first_with_counts_per_source_and_takes_filters(clean_serving_db, three_sources):
    result = goodwatch(clean_serving_db, "quarantine", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "source           media   tmdb_id  quarantined       attempts     body kept  reason",
        "tmdb_details     tv          303  2026-11-01 14:00         2          none  "
        "tmdb_api: GET /3/tv/303 failed 3 times, last: HTTP 503",
        "dna              movie       202  2026-11-01 13:00         1          12 B  "
        "unusable after 2 re-asks: the answer is not JSON",
        "metacritic       movie       101  2026-11-01 12:00         1       4,326 B  "
        "the Metacritic page has an unexpected shape: KeyError",
        "quarantined: 3 titles (dna 1, metacritic 1, tmdb_details 1)",
    ]
    since = goodwatch(clean_serving_db, "quarantine", "list", "--since", "2026-11-01T12:30", "--limit", "1")
    assert [line.split()[0] for line in since.stdout.splitlines()[1:-1]] == ["tmdb_details"]
    assert since.stdout.splitlines()[-1] == "quarantined: 2 titles (dna 1, tmdb_details 1); the newest 1 shown"
    one = goodwatch(clean_serving_db, "quarantine", "list", "--source", "metacritic")
    assert one.stdout.splitlines()[-1] == "quarantined: 1 titles (metacritic 1)"
    recent = goodwatch(clean_serving_db, "quarantine", "list", "--since", "1h")  # an age: none this recent
    assert recent.stdout == "no quarantined titles\n"


def test_show_prints_what_was_kept_and_writes_the_body_byte_for_byte(clean_serving_db, three_sources, tmp_path):
    result = goodwatch(clean_serving_db, "quarantine", "show", "metacritic", "movie", "101")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "title:       metacritic movie 101",
        "quarantined: 2026-11-01 12:00:00 UTC, after 1 attempts",
        "reason:      the Metacritic page has an unexpected shape: KeyError",
        f"url:         {metacritic.SITE.url('/movie/a-title/')}",
        f"body:        {len(PAGE):,} bytes (the first 2,000 shown: --full for all, --out FILE to save it)",
    ]
    assert "\n".join(lines[5:]) == PAGE[:2000].decode()
    full = goodwatch(clean_serving_db, "quarantine", "show", "metacritic", "movie", "101", "--full")
    assert full.stdout.endswith(PAGE.decode() + "\n")
    out = tmp_path / "page.html"
    saved = goodwatch(clean_serving_db, "quarantine", "show", "metacritic", "movie", "101", "--out", str(out))
    assert out.read_bytes() == PAGE and saved.stdout.splitlines()[-1] == f"body:        {len(PAGE):,} bytes, written to {out}"
    nothing = goodwatch(clean_serving_db, "quarantine", "show", "tmdb_details", "tv", "303")
    assert nothing.stdout.splitlines()[-2:] == [
        "url:         (none kept)",
        "body:        none kept (nothing to replay: `goodwatch quarantine release` puts it back in the queue)"]


def test_release_puts_titles_back_in_the_queue_due_at_once(clean_serving_db, three_sources):
    result = goodwatch(clean_serving_db, "quarantine", "release", "--source", "metacritic")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "metacritic       movie       101  released (quarantined for: the Metacritic page has an unexpected shape: "
        "KeyError)",
        "released 1 titles (metacritic 1): due at once, attempts reset, kept bodies dropped",
    ]
    by_title = goodwatch(clean_serving_db, "quarantine", "release", "movie", "202", "tv", "404")
    assert by_title.stdout.splitlines()[-1] == "released 1 titles (dna 1): due at once, attempts reset, kept bodies dropped"

    store = three_sources
    released = store.get_many(metacritic.SPEC.name, [("movie", 101)])[("movie", 101)]
    assert (released.status, released.attempts, released.error, released.quarantine_body, released.quarantine_url,
            released.quarantined_at) == (Status.PENDING, 0, None, None, None, None)
    assert released.next_attempt_at <= datetime.now(UTC)
    store.clock = FakeClock(datetime.now(UTC) + timedelta(seconds=1))
    assert [r.tmdb_id for r in store.reserve(metacritic.SPEC.name, media="movie", shard=released.shard, limit=5,
                                             refresh_age=timedelta(days=90), lease=timedelta(minutes=5))] == [101]
    assert store.get_many(dna.SPEC.name, [("movie", 202)])[("movie", 202)].status is Status.PENDING
    assert store.count_by_status(tmdb.SPEC.name) == {"quarantined": 1}  # not asked for

    # Releasing drops the kept bodies: every title of every source only when asked for in so many words.
    refused = goodwatch(clean_serving_db, "quarantine", "release")
    assert refused.exit_code == 2 and refused.stderr.startswith("error: release drops the kept bodies: name a source")
    assert store.count_by_status(tmdb.SPEC.name) == {"quarantined": 1}
    everything = goodwatch(clean_serving_db, "quarantine", "release", "--all")
    assert everything.stdout.splitlines()[-1].startswith("released 1 titles (tmdb_details 1)")


@pytest.mark.parametrize(("args", "problem"), [
    (("list", "--source", "letterboxd"), "error: unknown source 'letterboxd': the sources are imdb_ratings, "),
    (("list", "--since", "last week"), "error: since 'last week' is not a date (2026-11-01), a UTC time "),
    (("replay", "movie"), "error: titles are MEDIA TMDB_ID pairs (movie 603 tv 1399); got 'movie'"),
    (("release", "film", "603"), "error: film '603' is not a title: MEDIA is one of movie, tv"),
    (("show", "dna", "movie", "1"), "error: dna has no movie 1"),
])
def test_bad_input_is_one_line_naming_it(clean_serving_db, args, problem):
    result = goodwatch(clean_serving_db, "quarantine", *args)
    assert result.exit_code == 2 and result.stderr.startswith(problem) and len(result.stderr.splitlines()) == 1


def test_a_whole_file_source_says_it_has_no_quarantine(clean_serving_db):
    result = goodwatch(clean_serving_db, "quarantine", "replay", "--source", "imdb_ratings")
    assert result.exit_code == 0
    assert result.stdout == ("imdb_ratings reads whole files: it quarantines no title (a file that does not parse fails "
                             "its run, and nothing of it is written)\n")


# -- replay of real pages, through the command (the live sites' configuration: nothing is asked of them) ----------------

needs_fixtures = pytest.mark.skipif(not SHARED_FIXTURES.exists(), reason="../shared/fixtures/real is not beside the project")


@needs_fixtures
def test_replay_stores_real_pages_that_pass_and_sends_another_titles_page_back_to_the_queue(clean_serving_db, store):
    details = (SHARED_FIXTURES / "tmdb/krelinga_2025_movie_348_plain_details.json").read_bytes()
    knight = (SHARED_FIXTURES / "metacritic/pawelkrupinski_2026-05_movie_the_dark_knight_jsonld_excerpt.html").read_bytes()
    knight_url = metacritic.SITE.url("/movie/the-dark-knight/")
    store.enqueue(tmdb.SPEC.name, [QueueEntry("movie", 348)])
    store.quarantine(tmdb.SPEC.name, ("movie", 348), "old parser", details, url=tmdb.API.url("/3/movie/348"))
    store.enqueue(metacritic.SPEC.name, [
        QueueEntry("movie", 155, hints={"title": "The Dark Knight", "year": 2008, "directors": ["Christopher Nolan"]}),
        QueueEntry("movie", 272, hints={"title": "Batman Begins", "year": 2005, "directors": ["Christopher Nolan"]})])
    for tmdb_id in (155, 272):
        store.quarantine(metacritic.SPEC.name, ("movie", tmdb_id), "old parser", knight, url=knight_url)

    result = goodwatch(clean_serving_db, "quarantine", "replay")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == ("replayed 3 quarantined titles: 2 stored, 0 still failing, 1 back in the queue for a fetch, "
                         "0 not replayed (nothing kept to replay: use release)")
    assert f"tmdb_details     movie       348  stored: ok, {tmdb.API.url('/3/movie/348')}; due again in 30 days" in lines
    assert (f"metacritic       movie       272  back in the queue: {knight_url} is not the title's page (the page's "
            "title 'The Dark Knight' is none of the title's names): its other candidate pages need requests (due at "
            "once)") in lines
    alien = store.get_many(tmdb.SPEC.name, [("movie", 348)])[("movie", 348)]
    assert (alien.status, alien.record["title"], alien.record["vote_average"]) == (Status.OK, "Alien", 8.164)
    pages = store.get_many(metacritic.SPEC.name, [("movie", 155), ("movie", 272)])
    assert (pages[("movie", 155)].status, pages[("movie", 155)].record["metascore"]) == (Status.OK, 85)
    assert pages[("movie", 155)].source_url == knight_url
    assert (pages[("movie", 272)].status, pages[("movie", 272)].payload) == (Status.PENDING, None)


# -- the jobs ---------------------------------------------------------------------------------------------------------------

def test_the_jobs_replay_and_release_the_titles_their_config_names(clean_serving_db, store):
    catalog = SyntheticCatalog(300, seed=3)
    good, broken = [e for e in catalog.entries if e.media == "movie"][:2]
    answer = details_answer(catalog, good)
    store.enqueue(tmdb.SPEC.name, [QueueEntry("movie", e.tmdb_id) for e in (good, broken)])
    store.quarantine(tmdb.SPEC.name, ("movie", good.tmdb_id), "old parser", answer,
                     url=tmdb.API.url(f"/3/movie/{good.tmdb_id}"))
    store.quarantine(tmdb.SPEC.name, ("movie", broken.tmdb_id), "old parser", answer[:40],
                     url=tmdb.API.url(f"/3/movie/{broken.tmdb_id}"))
    store.enqueue(metacritic.SPEC.name, [QueueEntry("movie", 7, hints={"title": "Seven"})])
    store.quarantine(metacritic.SPEC.name, ("movie", 7), "old parser", PAGE)
    resources = replica_resources("http://127.0.0.1:9")  # nothing listens there: replay asks nothing

    config = {"source": "tmdb_details", "titles": [f"movie {good.tmdb_id}", f"movie {broken.tmdb_id}"]}
    replayed = quarantine_replay.execute_in_process(
        run_config={"ops": {"replay_quarantined": {"config": config}}}, resources=resources)
    assert replayed.success
    metadata = next(e for e in replayed.all_events if e.is_successful_output).event_specific_data.metadata
    assert {key: metadata[key].value for key in ("titles", "stored", "still_failing")} == {
        "titles": 2, "stored": 1, "still_failing": 1}
    stored = store.get_many(tmdb.SPEC.name, [("movie", good.tmdb_id), ("movie", broken.tmdb_id)])
    details = catalog.details(good)
    assert (stored[("movie", good.tmdb_id)].status, stored[("movie", good.tmdb_id)].record["vote_count"]) == (
        Status.OK, details.vote_count)
    assert stored[("movie", broken.tmdb_id)].status is Status.QUARANTINED
    assert stored[("movie", broken.tmdb_id)].error.startswith("TMDB answered something that is not JSON")
    # Another source's title was not asked for; the replayed details queued their title for the pages, as a fetch does.
    assert store.count_by_status(metacritic.SPEC.name) == {"quarantined": 1, "pending": 1}

    released = quarantine_release.execute_in_process(
        run_config={"ops": {"release_quarantined": {"config": {"source": "metacritic", "since": "2026-11-01"}}}},
        resources=resources)
    assert released.success
    assert store.get_many(metacritic.SPEC.name, [("movie", 7)])[("movie", 7)].status is Status.PENDING
    assert store.count_by_status(tmdb.SPEC.name) == {"ok": 1, "quarantined": 1}
