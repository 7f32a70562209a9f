"""What a run asks of a Kubernetes cluster, by the kind of work it does.

Fetching runs mostly wait on upstream rate limits and need little; the daily files are parsed in memory; the
combine and the DNA vectors (the embedding model) need more. Each asset carries its kind's ``dagster-k8s/config``
tag in its op tags, which sizes its pod under ``k8s_job_executor``. Under the ``K8sRunLauncher`` a run is one pod,
sized by the run's own tag: every schedule and sensor gives its runs :func:`run_tags` of the assets it targets (the
largest kind among them), and a run launched by hand gets the launcher's default (the Helm values' fetching size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg

K8S_CONFIG = "dagster-k8s/config"
RUN_KIND = "goodwatch/run_kind"


@dataclass(frozen=True)
class RunKind:
    name: str
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def k8s_config(self) -> dict:
        """dagster-k8s's user-defined config: the container's resources and a label naming the kind."""
        return {
            "container_config": {"resources": {
                "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
                "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
            }},
            "pod_template_spec_metadata": {"labels": {"goodwatch/run-kind": self.name}},
        }

    def tags(self) -> dict[str, str]:
        return {K8S_CONFIG: json.dumps(self.k8s_config(), sort_keys=True), RUN_KIND: self.name}


FETCHING = RunKind("fetching", cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")
FILES = RunKind("files", cpu_request="500m", memory_request="2Gi", cpu_limit="2", memory_limit="4Gi")
COMBINE = RunKind("combine", cpu_request="1", memory_request="2Gi", cpu_limit="2", memory_limit="4Gi")
EMBEDDING = RunKind("embedding", cpu_request="2", memory_request="3Gi", cpu_limit="2", memory_limit="6Gi")
KINDS = (FETCHING, FILES, COMBINE, EMBEDDING)
"""Smallest first: a run of assets of several kinds is sized for the last of them."""


def run_tags(*assets: dg.AssetsDefinition) -> dict[str, str]:
    """The tags that size a run of these assets: the largest kind among their op tags."""
    names = {asset.op.tags.get(RUN_KIND, FETCHING.name) for asset in assets}
    return next(kind for kind in reversed(KINDS) if kind.name in names).tags()
