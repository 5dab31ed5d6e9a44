"""Every long-running process serves /metrics on LOGWARDEN_METRICS_PORT: `logwarden
ingest`, `logwarden push`, two workers' main processes (detect and llm; notify) and beat,
each started as a real process, scraped over HTTP, and what it serves passes `promtool
check metrics`. The run stages what on-call watches: entries pulled from the stand-in
Pub/Sub (one unparseable, one a new Cloud Run revision), a disk-full entry pushed (an
anomaly, an alert, an LLM review by the Gemini stand-in, deliveries to a file and to a
Slack webhook that refuses them) and pushed again under another message id (a duplicate).
Afterwards every declared metric has samples, and all but a named few have moved; one
trace spans push -> detect -> notify across the processes. Then the real Prometheus
scrapes them all with the fleet's rules: every rule and every panel query parses, and
every panel not listed as quiet (at least 80 % of them; today all) shows data."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from google.cloud import pubsub_v1
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import SUBSCRIPTION, TOPIC
from tests.integration.corpus import Message
from tests.integration.fleet import FleetConfig, ledger, publish, query, wait_until
from tests.integration.processes import CommandProcess, PushProcess, free_port
from tests.integration.prometheus_server import PrometheusServer
from tests.observability.declared import written_samples
from tests.standins.gemini import GeminiStandIn
from tests.standins.pubsub import PubSubStandIn

pytestmark = pytest.mark.integration

TOKEN = "push-token-for-metrics"
OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
RULES = OBSERVABILITY / "prometheus" / "rules.yml"
# The scrape jobs of observability/prometheus/prometheus.yml, by process.
JOBS = {"ingest": "logwarden-ingest", "push": "logwarden-api",
        "worker-detect": "logwarden-workers", "worker-notify": "logwarden-workers",
        "beat": "logwarden-beat"}
# Panels this run leaves empty, and why; every other panel must show data.
QUIET_PANELS: dict[str, str] = {}
# Counters and histograms this run may leave at zero, and why; every other one must
# count something. (A gauge's zero is a reading: gauges need only a sample.)
MAY_STAY_ZERO = {
    "logwarden_task_retries_total": "nothing fails transiently",
    "logwarden_entries_redelivered_total": "no Pub/Sub regrouping of a redelivery "
                                           "(tests/pipeline/test_entry_accounting.py)",
}
# Grafana's variables, as Prometheus gets them with the defaults (all services).
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__range": "5m", "$service": ".*"}
# Pushed: the built-in disk-full rule makes it an anomaly, an alert and a delivery.
DISK_FULL = "write /var/lib/orders/journal: no space left on device"


def panel_queries() -> dict[str, list[str]]:
    """Each panel's queries, with Grafana's variables as Prometheus would get them."""
    def prometheus_side(expr: str) -> str:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        return expr

    return {
        panel["title"]: [prometheus_side(target["expr"]) for target in panel["targets"]]
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
    }


def annotation_queries() -> dict[str, str]:
    """Each dashboard's Prometheus annotations (the deploys seen), as Prometheus gets them."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for annotation in json.loads(path.read_text())["annotations"]["list"]:
            if "expr" in annotation:
                expr = annotation["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found[f"{path.stem}: {annotation['name']}"] = expr
    return found


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule["expr"]
            for group in groups for rule in group["rules"]}


def entry(i: int, service: str) -> dict[str, object]:
    # The fourth entry on shows a new revision: a deploy Logwarden sees.
    revision = f"{service}-0000{1 if i < 3 else 2}"
    return {
        "insertId": f"{service}-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30 + i)),
        "severity": "INFO",
        "textPayload": f"GET /orders/{i} 200",
        "resource": {"type": "cloud_run_revision",
                     "labels": {"service_name": service, "revision_name": revision}},
    }


def envelope(body: dict[str, object], message_id: str) -> dict[str, object]:
    data = base64.b64encode(json.dumps(body).encode()).decode()
    return {"message": {"data": data, "messageId": message_id, "attributes": {}},
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


def samples(texts: list[str]) -> dict[str, list[float]]:
    """Every sample's value, by sample name, over the scrapes."""
    found: dict[str, list[float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.setdefault(sample.name, []).append(sample.value)
    return found


def promtool_check(text: str) -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


class RefusingWebhook:
    """A Slack webhook that answers every post 404 `no_service`: a permanent failure."""

    def __init__(self) -> None:
        class Refuse(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"no_service")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/refused"

    def __enter__(self) -> RefusingWebhook:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Served:
    process: CommandProcess
    metrics_port: int


@pytest.fixture
def processes(
    fleet: FleetConfig, pubsub: PubSubStandIn
) -> Iterator[dict[str, Served]]:
    """ingest, push, two workers (prefork, multiprocess metrics: detect and llm; notify)
    and beat, each on its own metrics port; all stopped afterwards."""
    started: dict[str, CommandProcess] = {}
    ports: dict[str, int] = {}
    with GeminiStandIn() as gemini, RefusingWebhook() as slack:

        def env(name: str, **extra: str) -> dict[str, str]:
            ports[name] = free_port()
            return {"LOGWARDEN_METRICS_PORT": str(ports[name]),
                    "PUBSUB_EMULATOR_HOST": pubsub.host,
                    "LOGWARDEN_BATCH__MAX_WAIT_S": "0.5",
                    "LOGWARDEN_TRACE_EXPORTER": f"file:{fleet.workdir / 'spans.jsonl'}",
                    "LOGWARDEN_CHANNELS": '["file", "slack"]',
                    "LOGWARDEN_SLACK_WEBHOOK_URL": slack.url,
                    "LOGWARDEN_LLM__API_KEY": "metrics-test-key",
                    "LOGWARDEN_LLM__BASE_URL": gemini.base_url,
                    "LOGWARDEN_LLM__MODEL": "flash-test", **extra}

        def worker(name: str, queues: str) -> CommandProcess:
            multiproc = fleet.workdir / f"{name}-metrics"
            multiproc.mkdir()
            return CommandProcess(
                fleet, name,
                ["worker", "-Q", queues, "-c", "1", "-n", f"{name}@fleet-test",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env(name, PROMETHEUS_MULTIPROC_DIR=str(multiproc)))

        try:
            started["push"] = PushProcess(fleet, TOKEN, env("push"))
            started["ingest"] = CommandProcess(
                fleet, "ingest", ["ingest", "--subscription", SUBSCRIPTION], env("ingest"))
            started["worker-detect"] = worker("worker-detect", "detect,llm")
            started["worker-notify"] = worker("worker-notify", "notify")
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
    targets: dict[str, list[str]] = {}
    for name, p in processes.items():
        targets.setdefault(JOBS[name], []).append(f"127.0.0.1:{p.metrics_port}")
    # Scraping from the start, as in production: it sees each series born.
    with PrometheusServer(fleet.workdir, targets, RULES) as prometheus:
        started = time.time()
        stage_and_check_each_process(fleet, processes, publisher)
        check_through_prometheus(prometheus, started)


def stage_and_check_each_process(
    fleet: FleetConfig, processes: dict[str, Served], publisher: pubsub_v1.PublisherClient
) -> None:
    push = processes["push"].process
    assert isinstance(push, PushProcess)
    push.wait_ready(60)
    publish(publisher, TOPIC, [Message(json.dumps(entry(i, "orders")).encode(), {})
                               for i in range(5)] + [Message(b'{"insertId": "cut', {})])
    disk_full = {**entry(0, "checkout"), "severity": "ERROR", "textPayload": DISK_FULL}
    reply = httpx.post(f"{push.url}/pubsub/push?token={TOKEN}",
                       json=envelope(disk_full, "m-1"), timeout=60)
    assert reply.status_code == 204
    wait_until(lambda: ledger(fleet.database_url)[1] == 6, 90, "both batches recorded")
    # The same entry again under another message id: Logging's copies, a duplicate.
    reply = httpx.post(f"{push.url}/pubsub/push?token={TOKEN}",
                       json=envelope(disk_full, "m-2"), timeout=60)
    assert reply.status_code == 204
    wait_until(lambda: ledger(fleet.database_url)[3] == 1, 90, "the copy recorded")

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
    assert value(served["push"], "logwarden_entries_received_total", source="push") == 2
    detect_port = processes["worker-detect"].metrics_port
    wait_until(lambda: value(scrape(detect_port) or "", "logwarden_batches_total",
                             outcome="processed") == 3,
               30, "the worker's children's batches in its main process's /metrics")
    assert value(served["beat"], "process_start_time_seconds") > 0
    assert value(scrape(detect_port) or "", "logwarden_templates") >= 2  # orders, disk full
    assert value(served["ingest"], "logwarden_ingest_lag_seconds_count", source="pubsub") == 5
    assert value(served["push"], "logwarden_ingest_lag_seconds_count", source="push") == 2

    # The alert's deliveries (a notify task after its batch) and its LLM review come later.
    try:
        wait_until(lambda: not unmoved_metrics(processes), 90, "every declared metric to move")
    except AssertionError:
        assert unmoved_metrics(processes) == {}
    assert value(scrape(detect_port) or "", "logwarden_changes_total",
                 kind="deploy", service="orders") == 1
    notify = scrape(processes["worker-notify"].metrics_port) or ""
    assert value(notify, "logwarden_deliveries_total", channel="slack", status="failed") >= 1
    assert value(notify, "logwarden_deliveries_total", channel="file", status="sent") >= 1
    assert query(fleet.database_url, "SELECT count(*) FROM llm_calls")[0][0] >= 1
    for name in ("worker-detect", "worker-notify"):  # one prefork child each
        text = scrape(processes[name].metrics_port) or ""
        assert value(text, "logwarden_worker_processes") == 1, name

    check_one_trace_per_batch(fleet.workdir / "spans.jsonl")


def unmoved_metrics(processes: dict[str, Served]) -> dict[str, str]:
    """Declared metrics with no sample in any process, or none above zero (unless listed
    as allowed to stay zero), with what is wrong."""
    found = samples([scrape(p.metrics_port) or "" for p in processes.values()])
    problems = {}
    for name, kind in written_samples().items():
        values = found.get(name)
        if not values:
            problems[name] = "no sample"
        elif kind != "gauge" and name not in MAY_STAY_ZERO and not any(values):
            problems[name] = "only zeros"
    return problems


def check_one_trace_per_batch(path: Path) -> None:
    """The pushed entry's trace: sent by push, detected and notified by the workers."""
    traces: dict[str, set[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        span = json.loads(line)
        service = span["resource"]["attributes"]["service.name"]
        traces.setdefault(span["context"]["trace_id"], set()).add((service, span["name"]))
    pushed = ("logwarden-push", "apply_async/logwarden.detect_batch")
    pushes = [spans for spans in traces.values() if pushed in spans]
    assert len(pushes) == 2  # the entry and its copy
    # The entry's alert: detected by one worker, notified by the other.
    assert any({("logwarden-worker", "run/logwarden.detect_batch"),
                ("logwarden-worker", "run/logwarden.notify")} <= trace for trace in pushes)
    pulled = ("logwarden-ingest", "apply_async/logwarden.detect_batch")
    assert any(pulled in spans and ("logwarden-worker", "run/logwarden.detect_batch") in spans
               for spans in traces.values())


def check_through_prometheus(prometheus: PrometheusServer, since: float) -> None:
    wait_until(lambda: len(prometheus.query("up == 1")["data"]["result"]) == len(JOBS), 60,
               "Prometheus to scrape every process")
    queries = panel_queries()
    assert set(QUIET_PANELS) <= set(queries)  # a renamed panel is not quiet
    showing = [title for title in queries if title not in QUIET_PANELS]
    assert len(showing) >= 0.8 * len(queries)
    wait_until(lambda: all(prometheus.has_data(q) for t in showing for q in queries[t]), 60,
               "every listed panel to show data in Prometheus")
    broken = {expr: answer.get("error") for title, exprs in queries.items() for expr in exprs
              if (answer := prometheus.query(expr))["status"] != "success"}
    broken |= {name: answer.get("error") for name, expr in rule_expressions().items()
               if (answer := prometheus.query(expr))["status"] != "success"}
    assert broken == {}
    # The deploy of orders marks every dashboard; the service variable lists the services.
    annotations = annotation_queries()
    assert len(annotations) == len(list(DASHBOARDS.glob("*.json")))
    assert all(prometheus.has_data(expr) for expr in annotations.values())
    assert {"orders", "checkout"} <= set(prometheus.label_values(
        "service", "logwarden_entries_processed_total"))
    # checkout's one anomaly, its series born at 1, shows on the panel over the run.
    [by_service] = queries["Anomalies by service"]
    shown = prometheus.query_range(by_service, since, time.time(), step_s=1)
    assert max(float(v) for series in shown if series["metric"] == {"service": "checkout"}
               for _, v in series["values"]) >= 1
    loaded = {rule["name"]: rule["health"] for rule in prometheus.rules()}
    assert set(loaded) == set(rule_expressions())
    wait_until(lambda: all(rule["health"] == "ok" for rule in prometheus.rules()), 30,
               "every rule evaluated without error")
