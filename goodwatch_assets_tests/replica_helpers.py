"""Test scaffolding around the replica: a minimal TMDB-details handle for lane-1 runs."""

from __future__ import annotations

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.stores.documents import FetchedDocument, Reservation, Status


async def fetch_tmdb_details(client: SourceClient, reservation: Reservation) -> FetchedDocument:
    """GET /3/{media}/{id}; strict about the answer, so broken bodies are rejected with their bytes."""
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
