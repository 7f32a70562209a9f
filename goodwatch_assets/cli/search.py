"""``goodwatch search``: titles by name, by DNA labels, or similar to a title or a description."""

from __future__ import annotations

import functools

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import EmbeddingSettings, StoreSettings


@main.group()
def search() -> None:
    """Search the catalog by name, by DNA labels, or for titles similar to a title or to a description."""


@search.command("title")
@click.argument("name")
@click.option("--media", type=click.Choice(["movie", "tv"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
def search_title(name, media, limit):
    """Titles whose name (or original name) is like NAME, typos and accents forgiven: their MEDIA and TMDB_ID are what
    the other searches and commands take."""
    from goodwatch_assets.lib.title_search import find_titles
    from goodwatch_assets.stores.serving_db import open_serving_db

    matches = find_titles(open_serving_db(StoreSettings.from_env()), name, media=media, limit=limit)
    if not matches:
        click.echo("no titles found")
    for match in matches:
        original = f" [{match.original_title}]" if match.original_title and match.original_title != match.title else ""
        click.echo(f"{match.media:<5} {match.tmdb_id:>9}  {match.title}{original} ({match.year or '?'})  "
                   f"similarity {match.similarity:.2f}")


def _search_filters(fn):
    """The options every search takes; the command receives them as one SearchFilters (``filters``)."""
    options = [
        click.option("--media", type=click.Choice(["movie", "tv"]), default=None),
        click.option("--year-from", type=int, default=None),
        click.option("--year-to", type=int, default=None),
        click.option("--min-score", type=click.FloatRange(0, 100), default=None, help="aggregated overall score, %"),
        click.option("--country", default=None, help="streamable in this country (e.g. US)"),
        click.option("--provider", default=None, help="streamable on this provider (name or TMDB id)"),
        click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True),
    ]

    def command(media, year_from, year_to, min_score, country, provider, limit, **arguments):
        from goodwatch_assets.lib.search import SearchFilters

        with _open_search() as finder:
            filters = SearchFilters(media, year_from, year_to, min_score, country,
                                    finder.provider_id(provider) if provider else None)
            _print_hits(fn(finder, filters, limit, **arguments))

    command = functools.wraps(fn)(command)
    for option in reversed(options):
        command = option(command)
    return command


def _open_search():
    from goodwatch_assets.lib.embedding import Embedder
    from goodwatch_assets.lib.search import Search
    from goodwatch_assets.stores.serving_db import open_serving_db

    embedding = EmbeddingSettings.from_env()
    return Search(open_serving_db(StoreSettings.from_env()), Embedder(embedding.model), embedding.merge_similarity)


def _print_hits(hits) -> None:
    if not hits:
        click.echo("no titles found")
    for hit in hits:
        similarity = f"  similarity {hit.similarity:.3f}" if hit.similarity is not None else ""
        score = f"  score {hit.score:.0f}% ({hit.score_count:,})" if hit.score is not None else ""
        streaming = f"  on {', '.join(hit.streaming[:3])}{' …' if len(hit.streaming) > 3 else ''}" if hit.streaming else ""
        click.echo(f"{hit.media:<5} {hit.tmdb_id:>9}  {hit.title} ({hit.year or '?'}){score}{similarity}{streaming}")


@search.command("dna")
@click.argument("labels", nargs=-1, required=True)
@_search_filters
def search_dna(finder, filters, limit, labels):
    """Titles having every one of LABELS ("Mood=Tense", "Key Props: Revolver", or just "Tense")."""
    for label in labels:
        click.echo(f"{label} -> {', '.join(finder.resolve_label(label).matched)}")
    return finder.by_dna(labels, filters, limit)


@search.command("similar")
@click.argument("title_media", metavar="MEDIA", type=click.Choice(["movie", "tv"]))
@click.argument("tmdb_id", type=int)
@_search_filters
def search_similar(finder, filters, limit, title_media, tmdb_id):
    """Titles whose DNA is closest to that of the title MEDIA TMDB_ID."""
    return finder.similar_to_title(title_media, tmdb_id, filters, limit)


@search.command("text")
@click.argument("description")
@_search_filters
def search_text(finder, filters, limit, description):
    """Titles whose DNA is closest to a free-text DESCRIPTION."""
    return finder.similar_to_text(description, filters, limit)

