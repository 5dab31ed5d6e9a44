"""Spans reach their exporter: a JSON-lines file, or an OTLP/HTTP collector on a socket."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observability.logging import SPAN_FIELD, TRACE_FIELD
from observability.tracing import build_tracer_provider

REPO = Path(__file__).resolve().parents[2]


def read_spans(path: Path) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in map(json.loads, path.read_text().splitlines())}


def test_the_file_exporter_writes_one_json_span_per_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = build_tracer_provider("logwarden-test", f"file:{path}")
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("batch", attributes={"logwarden.batch_id": "b-1"}),
        tracer.start_as_current_span("mine"),
    ):
        pass
    provider.shutdown()
    assert len(path.read_text().splitlines()) == 2
    spans = read_spans(path)
    batch, mine = spans["batch"], spans["mine"]
    assert mine["parent_id"] == batch["context"]["span_id"]
    assert mine["context"]["trace_id"] == batch["context"]["trace_id"]
    assert batch["attributes"] == {"logwarden.batch_id": "b-1"}
    assert batch["resource"]["attributes"]["service.name"] == "logwarden-test"


@pytest.mark.parametrize("exporter", ["jaeger", "file:", "zipkin:http://x", ""])
def test_an_unknown_exporter_is_a_clear_error(exporter: str) -> None:
    with pytest.raises(ValueError, match="unknown trace exporter"):
        build_tracer_provider("logwarden-test", exporter)


class CollectorStandIn(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps each request body, answers 200."""

    received: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    handler = type("Handler", (CollectorStandIn,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_otlp_exporter_posts_spans_to_a_collector(
    collector: tuple[str, list[bytes]],
) -> None:
    url, received = collector
    provider = build_tracer_provider("logwarden-worker", f"otlp:{url}")
    with provider.get_tracer("test").start_as_current_span("notify"):
        pass
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()
    requests = [ExportTraceServiceRequest.FromString(body) for body in received]
    names = [
        span.name
        for request in requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert names == ["notify"]
    service = {
        attribute.value.string_value
        for attribute in requests[0].resource_spans[0].resource.attributes
        if attribute.key == "service.name"
    }
    assert service == {"logwarden-worker"}


def test_a_celery_task_span_parents_our_spans_and_the_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "tests.observability.traced_task", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    spans = read_spans(path)
    run, detect, failing = spans["run/logwarden.example"], spans["detect"], spans["failing"]
    assert detect["parent_id"] == run["context"]["span_id"]
    assert detect["attributes"] == {"logwarden.batch_id": "b-42", "logwarden.entries": 3}
    assert failing["status"]["status_code"] == "ERROR"
    assert [event["name"] for event in failing["events"]] == ["exception"]
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    [detecting] = [line for line in logged if line["message"] == "detecting"]
    assert "0x" + detecting[TRACE_FIELD] == detect["context"]["trace_id"]
    assert "0x" + detecting[SPAN_FIELD] == detect["context"]["span_id"]
    assert detecting["batch_id"] == "b-42"
