"""/metrics over a real socket, in one process and across forked children."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from observability.metrics import Metrics, mark_process_dead, start_metrics_server

REPO = Path(__file__).resolve().parents[2]


def run_python(*args: str, env: dict[str, str] | None = None) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_serves_the_given_registry() -> None:
    registry = CollectorRegistry()
    Metrics(registry).entries_received_total.labels(source="file").inc(4)
    server = start_metrics_server(0, multiprocess=False, addr="127.0.0.1", registry=registry)
    try:
        exposed = samples(scrape(server.server_port))
    finally:
        server.shutdown()
        server.server_close()
    assert exposed[("logwarden_entries_received_total", frozenset({("source", "file")}))] == 4


def test_multiprocess_mode_needs_its_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        start_metrics_server(0, multiprocess=True, addr="127.0.0.1")
    mark_process_dead(os.getpid())  # outside multiprocess mode: nothing to do, no error


def test_children_add_up_and_gauges_follow_their_modes(tmp_path: Path) -> None:
    (tmp_path / "stale_123.db").write_bytes(b"left by an earlier run")
    text = run_python("-m", "tests.observability.prefork_fleet", str(tmp_path))
    exposed = samples(text)

    def value(name: str, **labels: str) -> float:
        return exposed[(name, frozenset(labels.items()))]

    # Dead children count too.
    assert value("logwarden_entries_processed_total", service="orders") == 60
    assert value("logwarden_entries_received_total", source="pubsub") == 6
    assert value("logwarden_batch_entries_count") == 3
    assert value("logwarden_ingest_open_batch_entries") == 25  # livesum: child 1 is dead
    assert value("logwarden_ingest_flow_paused") == 0  # livemax: only child 1 paused
    assert value("logwarden_worker_processes") == 2  # livesum: the live children
    assert value("logwarden_templates") == 200  # max over every child
    assert value("logwarden_queue_depth", queue="detect") == 3  # the latest live sample
    gauges_by_pid = [key for key in exposed if any(name == "pid" for name, _ in key[1])]
    assert gauges_by_pid == []  # every gauge declares how processes combine


def test_default_metrics_are_made_on_first_use_not_on_import() -> None:
    script = (
        "from prometheus_client import REGISTRY\n"
        "import observability.metrics as m\n"
        "names = lambda: {f.name for f in REGISTRY.collect()}\n"
        "assert not any(n.startswith('logwarden_') for n in names())\n"
        "assert m.get_metrics() is m.get_metrics()\n"
        "assert 'logwarden_entries_processed' in names()\n"
        "print('ok')\n"
    )
    assert run_python("-c", script).strip() == "ok"


def test_prepare_multiprocess_dir_refuses_once_the_client_is_loaded(tmp_path: Path) -> None:
    script = (
        "import sys, pathlib, prometheus_client\n"
        "from observability import prepare_multiprocess_dir\n"
        "try:\n"
        f"    prepare_multiprocess_dir(pathlib.Path({str(tmp_path / 'm')!r}))\n"
        "except RuntimeError as error:\n"
        "    print('refused:', error)\n"
    )
    assert run_python("-c", script).startswith("refused:")
    assert not (tmp_path / "m").exists()
