"""Every long-running process serves /metrics on LOGWARDEN_METRICS_PORT: `logwarden
ingest`, `logwarden push`, a worker's main process and beat, each started as a real
process, scraped over HTTP, and what it serves passes `promtool check metrics`. After a
small run, every metric a dashboard panel queries has samples (but for the panels listed
with what this run does not do: at most a fifth), and one trace spans push -> detect ->
notify across the processes. Then the real Prometheus scrapes them all with the fleet's
rules: every rule and every panel query parses, and the listed panels show data."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from google.cloud import pubsub_v1
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import Message
from tests.integration.fleet import FleetConfig, ledger, publish, wait_until
from tests.integration.processes import CommandProcess, PushProcess, free_port
from tests.integration.prometheus_server import PrometheusServer
from tests.standins.pubsub import PubSubStandIn

pytestmark = pytest.mark.integration

TOKEN = "push-token-for-metrics"
OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
RULES = OBSERVABILITY / "prometheus" / "rules.yml"
# The scrape jobs of observability/prometheus/prometheus.yml, by process.
JOBS = {"ingest": "logwarden-ingest", "push": "logwarden-api", "worker": "logwarden-workers",
        "beat": "logwarden-beat"}
# Panels this run leaves empty, and why; every other panel must show data.
QUIET_PANELS = {
    "LLM escalations by outcome": "no LLM configured",
    "Task retries": "nothing fails transiently",
}
# Pushed: the built-in disk-full rule makes it an anomaly, an alert and a delivery.
DISK_FULL = "write /var/lib/orders/journal: no space left on device"


def panel_metrics() -> dict[str, set[str]]:
    """Each dashboard panel's title, with the metric names its queries use."""
    return {
        panel["title"]: {name for target in panel["targets"]
                         for name in re.findall(r"logwarden_[a-z0-9_]+", target["expr"])}
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
    }


def panel_queries() -> dict[str, list[str]]:
    """Each panel's queries, with Grafana's rate interval as Prometheus would get it."""
    return {
        panel["title"]: [target["expr"].replace("$__rate_interval", "30s")
                         for target in panel["targets"]]
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
    }


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule["expr"]
            for group in groups for rule in group["rules"]}


def sampled_names(texts: Iterator[str] | list[str]) -> set[str]:
    return {sample.name for text in texts for family in text_string_to_metric_families(text)
            for sample in family.samples}


def entry(i: int, service: str) -> dict[str, object]:
    return {
        "insertId": f"{service}-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30 + i)),
        "severity": "INFO",
        "textPayload": f"GET /orders/{i} 200",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
    }


def envelope(body: dict[str, object]) -> dict[str, object]:
    data = base64.b64encode(json.dumps(body).encode()).decode()
    return {"message": {"data": data, "messageId": "m-1", "attributes": {}},
            "subscription": "projects/acme-fleet/subscriptions/push"}


def scrape(port: int) -> str | None:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=3)
    except httpx.HTTPError:
        return None
    return reply.text if reply.status_code == 200 else None


def value(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def promtool_check(text: str) -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass(frozen=True)
class Served:
    process: CommandProcess
    metrics_port: int


@pytest.fixture
def processes(fleet: FleetConfig, pubsub: PubSubStandIn) -> Iterator[dict[str, Served]]:
    """ingest, push, a worker (prefork, multiprocess metrics) and beat, each on its own
    metrics port; all stopped afterwards."""
    started: dict[str, CommandProcess] = {}
    ports: dict[str, int] = {}

    def env(name: str, **extra: str) -> dict[str, str]:
        ports[name] = free_port()
        return {"LOGWARDEN_METRICS_PORT": str(ports[name]), "PUBSUB_EMULATOR_HOST": pubsub.host,
                "LOGWARDEN_BATCH__MAX_WAIT_S": "0.5",
                "LOGWARDEN_TRACE_EXPORTER": f"file:{fleet.workdir / 'spans.jsonl'}", **extra}

    multiproc = fleet.workdir / "worker-metrics"
    multiproc.mkdir()
    try:
        started["push"] = PushProcess(fleet, TOKEN, env("push"))
        started["ingest"] = CommandProcess(
            fleet, "ingest", ["ingest", "--subscription", SUBSCRIPTION], env("ingest"))
        started["worker"] = CommandProcess(
            fleet, "worker",
            ["worker", "-Q", "detect,notify", "-c", "1", "-n", "metrics@fleet-test",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env("worker", PROMETHEUS_MULTIPROC_DIR=str(multiproc)))
        started["beat"] = CommandProcess(
            fleet, "beat", ["beat", "--schedule", str(fleet.workdir / "beat-schedule")],
            env("beat"))
        yield {name: Served(process, ports[name]) for name, process in started.items()}
    finally:
        for process in started.values():
            process.stop()


def test_each_process_serves_metrics_that_promtool_accepts(
    fleet: FleetConfig, processes: dict[str, Served],
    publisher: pubsub_v1.PublisherClient,
) -> None:
    push = processes["push"].process
    assert isinstance(push, PushProcess)
    push.wait_ready(60)
    publish(publisher, TOPIC, [Message(json.dumps(entry(i, "orders")).encode(), {})
                               for i in range(5)] + [Message(b'{"insertId": "cut', {})])
    reply = httpx.post(f"{push.url}/pubsub/push?token={TOKEN}",
                       json=envelope({**entry(0, "checkout"), "severity": "ERROR",
                                      "textPayload": DISK_FULL}), timeout=60)
    assert reply.status_code == 204
    wait_until(lambda: ledger(fleet.database_url)[1] == 6, 90, "both batches recorded")

    served: dict[str, str] = {}

    def all_served() -> bool:
        for name, served_by in processes.items():
            served_by.process.check_alive()
            text = scrape(served_by.metrics_port)
            if text is not None:
                served[name] = text
        return len(served) == len(processes)

    wait_until(all_served, 60, "every process to serve /metrics")
    for text in served.values():
        promtool_check(text)
    # Each scrape is the process's own count, not a neighbour's.
    assert value(served["ingest"], "logwarden_entries_received_total", source="pubsub") == 6
    assert value(served["push"], "logwarden_entries_received_total", source="push") == 1
    worker_port = processes["worker"].metrics_port
    wait_until(lambda: value(scrape(worker_port) or "", "logwarden_batches_total",
                             outcome="processed") == 2,
               30, "the worker's children's batches in its main process's /metrics")
    assert value(served["beat"], "process_start_time_seconds") > 0
    assert value(scrape(worker_port) or "", "logwarden_templates") >= 2  # orders, disk full
    assert value(served["ingest"], "logwarden_ingest_lag_seconds_count", source="pubsub") == 5
    assert value(served["push"], "logwarden_ingest_lag_seconds_count", source="push") == 1

    def empty_panels() -> dict[str, list[str]]:
        sampled = sampled_names([scrape(p.metrics_port) or "" for p in processes.values()])
        return {title: sorted(names - sampled) for title, names in panel_metrics().items()
                if title not in QUIET_PANELS and names - sampled}

    # The alert is delivered by a notify task after its batch: give it time.
    wait_until(lambda: not empty_panels(), 60, "data for every panel but the quiet ones")
    assert set(QUIET_PANELS) <= set(panel_metrics())  # a renamed panel is not quiet

    check_one_trace_per_batch(fleet.workdir / "spans.jsonl")

    targets = {JOBS[name]: [f"127.0.0.1:{p.metrics_port}"] for name, p in processes.items()}
    with PrometheusServer(fleet.workdir, targets, RULES) as prometheus:
        check_through_prometheus(prometheus)


def check_one_trace_per_batch(path: Path) -> None:
    """The pushed entry's trace: sent by push, detected and notified by the worker."""
    traces: dict[str, set[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        span = json.loads(line)
        service = span["resource"]["attributes"]["service.name"]
        traces.setdefault(span["context"]["trace_id"], set()).add((service, span["name"]))
    pushed = ("logwarden-push", "apply_async/logwarden.detect_batch")
    [trace] = [spans for spans in traces.values() if pushed in spans]
    assert {("logwarden-worker", "run/logwarden.detect_batch"),
            ("logwarden-worker", "run/logwarden.notify")} <= trace
    pulled = ("logwarden-ingest", "apply_async/logwarden.detect_batch")
    assert any(pulled in spans and ("logwarden-worker", "run/logwarden.detect_batch") in spans
               for spans in traces.values())


def check_through_prometheus(prometheus: PrometheusServer) -> None:
    wait_until(lambda: len(prometheus.query("up == 1")["data"]["result"]) == len(JOBS), 60,
               "Prometheus to scrape every process")
    queries = panel_queries()
    showing = [title for title in queries if title not in QUIET_PANELS]
    assert len(showing) >= 0.8 * len(queries)
    wait_until(lambda: all(prometheus.has_data(q) for t in showing for q in queries[t]), 60,
               "every listed panel to show data in Prometheus")
    broken = {expr: answer.get("error") for title, exprs in queries.items() for expr in exprs
              if (answer := prometheus.query(expr))["status"] != "success"}
    broken |= {name: answer.get("error") for name, expr in rule_expressions().items()
               if (answer := prometheus.query(expr))["status"] != "success"}
    assert broken == {}
    loaded = {rule["name"]: rule["health"] for rule in prometheus.rules()}
    assert set(loaded) == set(rule_expressions())
    wait_until(lambda: all(rule["health"] == "ok" for rule in prometheus.rules()), 30,
               "every rule evaluated without error")
