"""Escalation in the fleet: real `logwarden worker` processes (detect, llm and notify on
workers of their own), the real google-genai client against the generateContent
stand-in, Redis and Postgres. A slow model never holds the page; its verdict comes
later, is stored, and reaches the alert as one follow-up, never a second page."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity, StreamKey
from tests.integration.cli_processes import CliWorker
from tests.integration.fleet import FleetConfig, alert_lines, query, wait_until
from tests.standins.gemini import GeminiStandIn
from workers.tasks import batch_sender

pytestmark = pytest.mark.integration

MODEL_DELAY_S = 4.0
PASSWORD = "s3cr3t-Hunter2"


@pytest.fixture
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


def oom_batch() -> Batch:
    now = time.time_ns()
    entries = tuple(
        LogEntry(insert_id=uuid.uuid4().hex, timestamp_ns=now + i * 1_000_000,
                 severity=Severity.ERROR,
                 message=f"java.lang.OutOfMemoryError: Java heap space (db password={PASSWORD})",
                 project="acme-prod", service="checkout", resource_type="k8s_container",
                 size=90)
        for i in range(20)
    )
    return Batch(StreamKey("acme-prod", "k8s_container", "checkout"), entries)


def test_a_worker_on_the_llm_queue_reviews_an_alert_that_was_paged_once(
    fleet: FleetConfig, gemini: GeminiStandIn
) -> None:
    # Slow on purpose: the page goes out before the verdict exists.
    gemini.default_delay_s = MODEL_DELAY_S
    env = {**fleet.env(), "LOGWARDEN_LLM__API_KEY": "fleet-test-key",
           "LOGWARDEN_LLM__BASE_URL": gemini.base_url, "LOGWARDEN_LLM__MODEL": "flash-test"}
    app = fleet.app()
    workers = [CliWorker(fleet, "detect", ["--queues", "detect"], env, children=1),
               CliWorker(fleet, "llm", ["--queues", "llm"], env, children=1),
               CliWorker(fleet, "notify", ["--queues", "notify"], env, children=1)]
    try:
        for worker in workers:
            worker.wait_ready(app, timeout=90)
        batch_sender(app)(oom_batch())
        wait_until(lambda: _calls(fleet) >= 1, 90, "the escalation stored")
        wait_until(lambda: _settled(fleet), 90, "every message sent", steady_s=MODEL_DELAY_S + 2)
    finally:
        for worker in workers:
            worker.stop()
        app.close()

    calls = query(fleet.database_url,
                  "SELECT outcome, model, prompt_tokens, output_tokens, verdict, alert_id "
                  "FROM llm_calls")
    assert len(gemini.requests) == len(calls)  # one call per escalated alert, no more
    assert all(PASSWORD not in request.body for request in gemini.requests)
    for outcome, model, tokens_in, tokens_out, verdict, _ in calls:
        assert (outcome, model, tokens_in, tokens_out) == ("ok", "flash-test", 812, 143)
        assert verdict["verdict"] == "anomaly"
    reviewed = {row[5] for row in calls}
    stored = query(fleet.database_url, "SELECT count(*) FROM anomalies WHERE verdict IS NOT NULL")
    assert stored[0][0] >= len(reviewed)

    lines = alert_lines(fleet.alerts_file)
    pages = [line for line in lines if line["kind"] == "firing"]
    follow_ups = [line for line in lines if line["kind"] == "review"]
    assert len(pages) + len(follow_ups) == len(lines)
    # Each alert paged once, unreviewed (the model was slow); each reviewed one followed
    # up once, in its thread, with the verdict.
    assert sorted(p["alert_id"] for p in pages) == sorted({p["alert_id"] for p in pages})
    assert all(p["review"] == "not reviewed" for p in pages)
    assert sorted(f["alert_id"] for f in follow_ups) == sorted(reviewed)
    assert all("flash-test confirmed: anomaly" in f["review"] for f in follow_ups)
    kinds = query(fleet.database_url, "SELECT kind, status, count(*) FROM outbox "
                                      "GROUP BY kind, status ORDER BY kind")
    assert [tuple(row) for row in kinds] == [("firing", "sent", len(pages)),
                                             ("review", "sent", len(reviewed))]
    assert "LLM escalation off" not in (fleet.workdir / "detect.log").read_text()
    assert PASSWORD not in (fleet.workdir / "llm.log").read_text()


def _settled(fleet: FleetConfig) -> bool:
    rows = query(fleet.database_url, "SELECT status, count(*) FROM outbox GROUP BY status")
    return bool(rows) and {row[0] for row in rows} == {"sent"}


def _calls(fleet: FleetConfig) -> int:
    return int(query(fleet.database_url, "SELECT count(*) FROM llm_calls")[0][0])
