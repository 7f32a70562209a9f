"""Fetch-layer pacing against a rate-limited upstream, counted at the upstream.

Starts the replica in its own process (``goodwatch replica serve``) with a limit of R requests per
second on TMDB's API, then fetches M title details through the fetch layer with its policy set to
R requests/s. The replica's own request log decides: the achieved rate (at least 95 % of R), the
busiest 1-second window (never above R) and the number of rate-limit answers (0). For scale, the
same client without pacing measures what the replica can serve on this machine in the same run.

    .venv/bin/python benchmarks/fetch_rate.py --rate 50 --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx

from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.sources import tmdb

GOODWATCH = str(Path(sys.executable).with_name("goodwatch"))


def start_replica(titles: int, rate: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [GOODWATCH, "replica", "serve", "--titles", str(titles), "--port", "0",
         "--rate-limit", f"{tmdb.API.name}={int(rate)}/1"],
        stdout=subprocess.PIPE, text=True, env={**os.environ},
    )
    first_line = process.stdout.readline()
    return process, first_line.split(" on ", 1)[1].split(" ", 1)[0]


async def fetch(base: str, rate: float, requests: int, ids: list[int], paced: bool) -> float:
    policy = replace(tmdb.API, base_url=base + tmdb.API.replica_prefix, requests_per_second=rate, concurrency=8)
    if not paced:
        policy = replace(policy, requests_per_second=1_000_000)

    async def one(client: SourceClient, n: int) -> None:
        await client.get(f"/3/movie/{ids[n % len(ids)]}")

    started = time.monotonic()
    async with SourceClient(policy) as client:
        await client.run_items(list(range(requests)), one)
    if client.rate_limited:
        print(f"the replica answered with a rate limit after {client.stats.requests} requests")
    return time.monotonic() - started


def busiest_window(times: list[float], window: float = 1.0) -> int:
    """Most requests whose arrival falls in any half-open window [t, t + window)."""
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="the upstream's limit R, requests per second")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--titles", type=int, default=2000)
    args = parser.parse_args()

    process, base = start_replica(args.titles, args.rate)
    try:
        truth = httpx.get(f"{base}/_replica/truth", timeout=60).text.splitlines()
        ids = [int(line.split('"tmdb_id":')[1].split(",")[0]) for line in truth if '"media":"movie"' in line]
        # Warm the replica's route up (its first answer stalls its event loop, which bunches the
        # arrival times it records), then let that request's window pass before measuring.
        httpx.get(f"{base}{tmdb.API.replica_prefix}/3/movie/{ids[0]}", timeout=30)
        time.sleep(1.2)
        paced_s = asyncio.run(fetch(base, args.rate, args.requests, ids, paced=True))
        log = httpx.get(f"{base}/_replica/requests", params={"site": tmdb.API.name}, timeout=60).json()
        log = log[1:]  # the warm-up request
        accepted = sorted(at for at, _wall, _site, _path, status, _fault in log if status == 200)
        rejected = sum(1 for _at, _wall, _site, _path, status, _fault in log if status != 200)
        achieved = (len(accepted) - 1) / (accepted[-1] - accepted[0])
        busiest = busiest_window(accepted)
    finally:
        process.terminate()
        process.wait(timeout=10)

    process, base = start_replica(args.titles, 1_000_000)  # same replica, no limit: its capacity here
    try:
        unpaced_s = asyncio.run(fetch(base, args.rate, args.requests, ids, paced=False))
    finally:
        process.terminate()
        process.wait(timeout=10)

    ratio = achieved / args.rate
    print(f"upstream limit R               {args.rate:10.1f} requests/s")
    print(f"requests sent                  {args.requests:10d}")
    print(f"achieved rate at the replica   {achieved:10.2f} requests/s   ratio to R {ratio:6.3f} (target >= 0.95)")
    print(f"busiest 1 s window             {busiest:10d} requests     limit {int(args.rate)} (must not exceed)")
    print(f"rate-limit answers             {rejected:10d}              (must be 0)")
    print(f"wall time paced                {paced_s:10.2f} s")
    print(f"replica capacity, unpaced      {args.requests / unpaced_s:10.1f} requests/s (same run, same machine)")
    ok = ratio >= 0.95 and busiest <= args.rate and rejected == 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
