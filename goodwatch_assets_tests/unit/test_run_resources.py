"""What a run of each kind asks of Kubernetes: the pod dagster-k8s builds from the tags the assets, schedules and
sensors give their runs (no cluster: dagster-k8s's own job construction)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from goodwatch_assets.definitions import ASSETS, defs, eager_automation
from goodwatch_assets.defs.priority.sensor import CHAIN_RUN_TAGS
from goodwatch_assets.defs.run_resources import COMBINE, EMBEDDING, FETCHING, FILES, K8S_CONFIG, RUN_KIND, RunKind

REPOSITORY = defs.get_repository_def()


def pod_of(tags: dict[str, str]):
    """The pod template of the Kubernetes job dagster-k8s builds for a run with these tags."""
    config = DagsterK8sJobConfig(job_image="goodwatch-assets:test", dagster_home="/opt/dagster/dagster_home",
                                 image_pull_policy="IfNotPresent", instance_config_map="dagster-instance")
    job = construct_dagster_k8s_job(config, args=["dagster", "api", "execute_run", "{}"], job_name="dagster-run-1",
                                    user_defined_k8s_config=get_user_defined_k8s_config(tags))
    return job.spec.template


def assert_sized_as(tags: dict[str, str], kind: RunKind) -> None:
    pod = pod_of(tags)
    (container,) = pod.spec.containers
    assert container.resources.requests == {"cpu": kind.cpu_request, "memory": kind.memory_request}
    assert container.resources.limits == {"cpu": kind.cpu_limit, "memory": kind.memory_limit}
    assert pod.metadata.labels["goodwatch/run-kind"] == kind.name


def test_every_asset_says_its_kind_of_run():
    kinds = {name: asset.op.tags.get(RUN_KIND) for name, asset in ASSETS.items()}
    assert None not in kinds.values(), [name for name, kind in kinds.items() if kind is None]  # every asset has one
    assert kinds["dna_vectors"] == EMBEDDING.name
    assert {kinds[t] for t in ("movies", "tv_shows", "streaming_links", "streaming_providers")} == {COMBINE.name}
    assert kinds["tmdb_daily_export"] == kinds["imdb_ratings"] == FILES.name
    fetching = {name for name, kind in kinds.items() if kind == FETCHING.name}
    assert {"tmdb_details", "metacritic", "rotten_tomatoes", "tvtropes", "dna", "wikidata_ids"} <= fetching
    assert all(K8S_CONFIG in asset.op.tags for asset in ASSETS.values())


def scheduled(name: str, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, repository_def=REPOSITORY,
                                        scheduled_execution_time=datetime(2026, 12, 7, 3, 0, tzinfo=UTC))
    return list(REPOSITORY.get_schedule_def(name).evaluate_tick(context).run_requests)


@pytest.mark.parametrize(("launched_by", "kind"), [
    ("metacritic_sweep", FETCHING), ("wikidata_ids_weekly", FETCHING), ("imdb_ratings_daily_schedule", FILES),
    ("serving_reconcile", COMBINE),
])
def test_the_runs_a_schedule_launches_get_the_pod_of_their_kind(launched_by, kind):
    with dg.instance_for_test() as instance:
        requests = scheduled(launched_by, instance)
    assert requests
    for request in requests:
        job_tags = REPOSITORY.get_job(request.job_name).tags if request.job_name else {}
        assert_sized_as({**job_tags, **request.tags}, kind)


def test_lane_two_and_eager_automation_runs_are_sized_for_the_embedding():
    assert_sized_as(CHAIN_RUN_TAGS, EMBEDDING)  # a chain run ends with the DNA vectors
    assert_sized_as(eager_automation.run_tags, EMBEDDING)


def test_a_run_without_a_kind_gets_the_launchers_default():
    pod = pod_of({})
    resources = pod.spec.containers[0].resources
    assert not (resources.requests or resources.limits) and "goodwatch/run-kind" not in (pod.metadata.labels or {})
