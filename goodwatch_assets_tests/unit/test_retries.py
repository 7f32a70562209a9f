"""Fetching runs retry what passes (the database stopped answering), not what a retry cannot fix."""

from __future__ import annotations

import dagster as dg
import pytest

from goodwatch_assets.defs.dna.assets import dna
from goodwatch_assets.defs.retries import TRANSIENT_RETRY, not_retried_unless_transient
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS
from goodwatch_assets.errors import ConfigurationError, DatabaseUnavailable


def test_every_fetching_asset_retries_with_backoff():
    assert all(asset.op.retry_policy == TRANSIENT_RETRY for asset in [*PER_TITLE_ASSETS.values(), dna])
    assert TRANSIENT_RETRY.max_retries == 2 and TRANSIENT_RETRY.backoff == dg.Backoff.EXPONENTIAL


@pytest.mark.parametrize(("error", "attempts"), [
    (DatabaseUnavailable("the serving database stopped answering"), 3),
    (ConfigurationError("LLM_API_KEY", "required by the live LLM"), 1),
])
def test_only_a_transient_error_is_tried_again(error, attempts):
    tried = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2))  # TRANSIENT_RETRY without its minutes of delay
    @not_retried_unless_transient()
    def fetching():
        tried.append(1)
        raise error

    with dg.instance_for_test() as instance:
        result = dg.materialize([fetching], instance=instance, raise_on_error=False)
    assert not result.success and len(tried) == attempts
    (failure, *_) = result.get_step_failure_events()
    assert str(error) in str(failure.event_specific_data.error.to_string())
