"""Which failures of a fetching run are tried again.

A rate limit or a block never fails a run: the client stops it, its progress kept, and the site cools down. What
does fail one is either passing (the serving database stopped answering, a connection dropped: retried by
``TRANSIENT_RETRY``, with backoff) or a problem a retry cannot fix (a wrong setting, a missing key, an upstream
answer the pipeline refuses): :func:`not_retried_unless_transient` turns those into a ``dagster.Failure`` that
bypasses the retry policy, with the same one-line message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from goodwatch_assets.errors import DatabaseUnavailable, GoodwatchError

TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
"""Two more tries, about 1 and 3 minutes later."""


@contextmanager
def not_retried_unless_transient() -> Iterator[None]:
    try:
        yield
    except DatabaseUnavailable:
        raise
    except GoodwatchError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
