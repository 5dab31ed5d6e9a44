"""docker-compose.yml: valid for docker-compose, every service watched, workers scalable."""

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
# The variables the file requires (`${VAR:?...}`), with stand-in values.
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
}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    result: dict[str, dict[str, Any]] = document["services"]
    return result


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart", "no") == "no"


def test_docker_compose_accepts_the_file() -> None:
    executable = shutil.which("docker-compose")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(
                "docker-compose is not installed (CI needs: apt-get install docker-compose)"
            )
        pytest.skip("docker-compose is not installed; CI runs this check")
    env = {**os.environ, **REQUIRED_ENV}
    result = subprocess.run(
        [executable, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


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
