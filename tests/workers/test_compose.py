"""docker-compose.yml: valid for docker-compose with no variable set, every service
watched, workers scalable, Pub/Sub emulated unless docker-compose.gcp.yml says otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
GCP_FILE = REPO / "docker-compose.gcp.yml"
# The variables the Google Cloud override requires (`${VAR:?...}`), with stand-in values.
REQUIRED_ENV = {
    "PUBSUB_SUBSCRIPTION": "projects/p/subscriptions/s",
    "LOGWARDEN_PUSH_TOKEN": "not-a-secret",
}
FLEET = {
    "redis",
    "postgres",
    "migrate",
    "ingest",
    "worker",
    "notifier",
    "beat",
    "push",
    "prometheus",
    "grafana",
    "otel-collector",
    "mailpit",
    "alertmanager",
    "jaeger",
    "pubsub-emulator",
    "pubsub-init",
    "replayer",
}
LOCAL_PUBSUB = {"pubsub-emulator", "pubsub-init", "replayer"}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    result: dict[str, dict[str, Any]] = document["services"]
    return result


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart", "no") == "no"


def compose_config(*files: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on `files` with only `env` of the compose variables set."""
    executable = shutil.which("docker-compose")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(
                "docker-compose is not installed (CI needs: apt-get install docker-compose)"
            )
        pytest.skip("docker-compose is not installed; CI runs this check")
    ours = {k: v for k, v in os.environ.items()
            if k not in REQUIRED_ENV and not k.startswith(("PUBSUB_", "LOGWARDEN_", "GCP_"))}
    arguments = [item for path in files for item in ("-f", str(path))]
    return subprocess.run([executable, *arguments, "config"], cwd=REPO, env={**ours, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_docker_compose_accepts_the_file_with_no_variable_set() -> None:
    result = compose_config(COMPOSE_FILE, env={})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    ingest = resolved["ingest"]
    assert ingest["environment"]["PUBSUB_EMULATOR_HOST"] == "pubsub-emulator:8085"
    assert ingest["command"][-1] == "projects/logwarden-local/subscriptions/logwarden"
    assert resolved["push"]["environment"]["LOGWARDEN_PUSH_TOKEN"]
    assert not ingest.get("secrets")  # no Google credentials needed


def test_google_cloud_is_one_override_away() -> None:
    missing = compose_config(COMPOSE_FILE, GCP_FILE, env={})
    assert missing.returncode != 0 and "PUBSUB_SUBSCRIPTION" in missing.stderr
    result = compose_config(COMPOSE_FILE, GCP_FILE, env=REQUIRED_ENV)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    ingest = resolved["ingest"]
    assert ingest["environment"]["PUBSUB_EMULATOR_HOST"] == ""
    assert ingest["command"][-1] == REQUIRED_ENV["PUBSUB_SUBSCRIPTION"]
    assert ingest["secrets"]
    assert resolved["push"]["environment"]["LOGWARDEN_PUSH_TOKEN"] == "not-a-secret"
    for name in LOCAL_PUBSUB:
        assert resolved[name]["profiles"] == ["emulator"], name


def test_the_emulated_pubsub_is_wired_end_to_end(services: dict[str, dict[str, Any]]) -> None:
    init_script = services["pubsub-init"]["command"][0]
    topic = "projects/logwarden-local/topics/logs"
    # The replayer publishes to the topic pubsub-init creates, which feeds the subscription
    # ingest reads, on the emulator's port.
    assert "put topics/logs" in init_script and f'"topic": "{topic}"' in init_script
    assert "put subscriptions/logwarden" in init_script
    assert services["replayer"]["command"] == ["--topic", topic]
    assert services["replayer"]["depends_on"]["pubsub-init"]["condition"] == (
        "service_completed_successfully")
    assert "subscriptions/logwarden}" in services["ingest"]["command"][-1]
    assert "--host-port=0.0.0.0:8085" in services["pubsub-emulator"]["command"]
    assert services["replayer"]["entrypoint"] == ["python", "-m", "workers.publish_sample"]


def test_traces_go_through_the_collector_to_jaeger(services: dict[str, dict[str, Any]]) -> None:
    collector = " ".join(services["otel-collector"]["command"])
    assert "otlp/jaeger::endpoint: jaeger:4317" in collector
    assert "traces::exporters: [otlp/jaeger]" in collector
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    app_env = services["worker"]["environment"]
    assert app_env["LOGWARDEN_TRACE_EXPORTER"].startswith("otlp:http://otel-collector:4318")


def test_every_part_of_the_fleet_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert services.keys() >= FLEET


def test_every_service_has_a_healthcheck_or_is_one_shot(
    services: dict[str, dict[str, Any]],
) -> None:
    unwatched = [
        name for name, s in services.items() if "healthcheck" not in s and not _one_shot(s)
    ]
    assert unwatched == []
    assert _one_shot(services["migrate"])


def test_dependencies_wait_for_health_or_completion(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, rule in depends_on.items():
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
                assert _one_shot(services[target]), f"{name} waits for {target} to finish"


def test_the_app_waits_for_its_schema(services: dict[str, dict[str, Any]]) -> None:
    for name in ("ingest", "worker", "notifier", "beat", "push"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["build"] == "."


def test_the_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"][0] == "worker"


def test_alerts_are_sent_by_workers_of_their_own(services: dict[str, dict[str, Any]]) -> None:
    worker, notifier = services["worker"], services["notifier"]
    assert "--queues" not in worker["command"]  # the default: detect and llm
    assert notifier["command"][:3] == ["worker", "--queues", "notify"]
    assert "LOGWARDEN_SLACK_WEBHOOK_URL" in notifier["environment"]
    assert "LOGWARDEN_SLACK_WEBHOOK_URL" not in worker["environment"]


def test_the_image_is_built_from_the_hashed_lock_and_sources_that_exist() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes" in dockerfile
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    sources = [
        line.split()[1]
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
    ]
    assert "requirements.lock" in sources
    missing = [source for source in sources if not (REPO / source).exists()]
    assert missing == []
