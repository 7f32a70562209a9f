"""The deployment files (``deploy/``) checked by the tools' own schemas where they ship in a package, and against
each other: the Dagster instance of the Compose deployment, its launcher, workspace, services and image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster_docker import DockerRunLauncher

from goodwatch_assets.defs.run_resources import FETCHING

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PYPROJECT = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
INSTANCE = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def test_the_compose_instance_is_a_valid_dagster_instance_with_a_valid_docker_launcher(monkeypatch):
    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    config, _ = dagster_instance_config(str(DEPLOY))  # Dagster's own instance schema; raises on an unknown key
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert validate_config(DockerRunLauncher.config_type(), launcher["config"]).success
    assert config["run_retries"]["enabled"] and config["run_monitoring"]["enabled"]


def test_the_launched_runs_reach_the_stores_and_the_network_the_services_share():
    launcher = INSTANCE["run_launcher"]["config"]
    assert launcher["network"] == COMPOSE["networks"]["goodwatch"]["name"]
    code_env = SERVICES["code"]["environment"]
    passed = set(launcher["env_vars"])
    assert {"DATABASE_URL", "MONGODB_URI", "DAGSTER_PG_PASSWORD"} <= passed
    example = set(re.findall(r"^([A-Z_]+)=", (DEPLOY / ".env.example").read_text(), re.M))
    assert passed <= set(code_env) | example  # every variable a run gets is set for the daemon that launches it
    assert code_env["DAGSTER_CURRENT_IMAGE"] == SERVICES["code"]["image"]


def test_the_services_start_in_order_with_migrations_as_their_own_step():
    assert SERVICES["init"]["command"][-1].startswith("goodwatch stores init")
    assert SERVICES["code"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert SERVICES["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgvector" in SERVICES["postgres"]["image"] and SERVICES["mongo"]["image"].startswith("mongo:")
    assert "/var/run/docker.sock:/var/run/docker.sock" in SERVICES["daemon"]["volumes"]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    assert workspace["host"] in SERVICES and workspace["location_name"] == PYPROJECT["tool"]["dagster"][
        "code_location_name"]
    for service in ("webserver", "daemon"):
        assert "/opt/dagster/workspace.yaml" in SERVICES[service]["command"]


@pytest.mark.parametrize("service", ["postgres", "mongo", "init", "code", "webserver", "daemon"])
def test_no_secret_is_written_into_the_compose_file(service):
    environment = SERVICES[service].get("environment") or {}
    for name, value in environment.items():
        if any(word in name for word in ("PASSWORD", "KEY", "URI", "URL")) and value:
            assert "${" in str(value), f"{service}.{name} holds a literal value"


def test_the_filled_env_file_is_never_committed():
    assert "deploy/.env" in (DEPLOY.parent / ".gitignore").read_text().splitlines()
    assert SERVICES["code"]["env_file"] == ".env"  # read from deploy/, beside the compose file


def test_the_image_pins_cpu_torch_runs_unprivileged_and_serves_the_code_location():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    module = PYPROJECT["tool"]["dagster"]["module_name"]
    assert f'"-m", "{module}"' in dockerfile and '"4000"' in dockerfile
    assert yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]["port"] == 4000


HELM = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def test_the_helm_values_deploy_the_image_as_a_code_location_with_the_kubernetes_launcher():
    """The chart's own schema (values.schema.json) ships in no package and cannot be fetched here: these check what
    the pipeline needs of the values, in the chart's key names."""
    (deployment,) = HELM["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", PYPROJECT["tool"]["dagster"]["module_name"]]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] and deployment["podSecurityContext"]["runAsNonRoot"]
    launcher = HELM["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert k8s["envSecrets"] == deployment["envSecrets"] == [{"name": "goodwatch-secrets"}]
    assert k8s["resources"] == FETCHING.k8s_config()["container_config"]["resources"]  # a run without a kind
    assert not HELM["postgresql"]["enabled"] and HELM["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    daemon = HELM["dagsterDaemon"]
    assert daemon["runRetries"]["enabled"] and daemon["runMonitoring"]["enabled"]
    assert HELM["concurrency"]["pools"]["defaultLimit"] == 1


def test_no_secret_is_written_into_the_helm_values():
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert not re.search(r"^\s*(postgresqlPassword|password|apiKey|token):", text, re.M)
    env = HELM["dagster-user-deployments"]["deployments"][0]["env"]
    assert {e["name"] for e in env} == {"GOODWATCH_USER_AGENT"}
