"""`setup`, `backfill` and `tail` with the real google-cloud-logging and google-cloud-pubsub
clients, against local gRPC stand-ins of Cloud Logging and Pub/Sub."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time

import grpc
import pytest
from click.testing import CliRunner
from google.cloud.logging_v2.types import LogEntry

from tests.standins.cloud_logging import CloudLoggingStandIn
from tests.standins.pubsub import PubSubStandIn
from tests.workers.clirun import summary_count
from workers import sample
from workers.cli import main

PROJECT = "acme-prod"
ENTRIES = 120
MUTATIONS = ("CreateTopic", "CreateSubscription", "CreateSink", "UpdateSink", "SetIamPolicy")


@pytest.fixture(scope="module")
def entries() -> list[LogEntry]:
    found: list[LogEntry] = []
    with gzip.open(sample.sample_path(), "rt") as lines:
        for line in lines:
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or "insertId" not in data:
                    continue
                entry = LogEntry.from_json(line, ignore_unknown_fields=True)
            except Exception:  # the sample plants malformed lines; the API holds none
                continue
            if entry.insert_id not in {e.insert_id for e in found}:
                found.append(entry)
            if len(found) == ENTRIES:
                return found
    raise AssertionError("the sample is shorter than expected")


@pytest.fixture
def env(tmp_path, monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("LOGWARDEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return {
        "LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'lw.db'}",
        "LOGWARDEN_CHANNELS": "[]",
        "LOGWARDEN_LOG_JSON": "false",
        "LOGWARDEN_GCP__PROJECT": PROJECT,
    }


@pytest.fixture
def standins(env):
    with PubSubStandIn() as pubsub, CloudLoggingStandIn(page_size=25) as logging:
        env["PUBSUB_EMULATOR_HOST"] = pubsub.host
        env["LOGWARDEN_GCP__LOGGING_ENDPOINT"] = logging.host
        yield pubsub, logging


def _invoke(args, env):
    result = CliRunner().invoke(main, args, env=env)
    assert "Traceback" not in result.output
    return result


def _mutations(pubsub, logging) -> int:
    return sum(pubsub.book.calls[m] + logging.book.calls[m] for m in MUTATIONS)


def test_setup_creates_everything_once(standins, env):
    pubsub, logging = standins
    first = _invoke(["setup"], env)
    assert first.exit_code == 0, first.output
    topic = f"projects/{PROJECT}/topics/logwarden"
    subscription = pubsub.store.get_subscription(f"projects/{PROJECT}/subscriptions/logwarden")
    assert subscription.topic == topic
    assert subscription.ack_deadline_seconds == 60
    assert subscription.message_retention_duration.days == 7
    assert subscription.dead_letter_policy.dead_letter_topic == f"{topic}-dead-letter"
    assert (
        pubsub.store.get_subscription(
            f"projects/{PROJECT}/subscriptions/logwarden-dead-letter"
        ).topic
        == f"{topic}-dead-letter"
    )
    sink = logging.sinks[f"projects/{PROJECT}/sinks/logwarden"]
    assert sink.destination == f"pubsub.googleapis.com/{topic}"
    assert "cloudaudit" in sink.filter
    publishers = [b for b in pubsub.policies[topic].bindings if b.role == "roles/pubsub.publisher"]
    assert list(publishers[0].members) == [sink.writer_identity]
    assert _mutations(pubsub, logging) == 6  # 2 topics, 2 subscriptions, a sink, a grant

    second = _invoke(["setup"], env)
    assert second.exit_code == 0, second.output
    assert _mutations(pubsub, logging) == 6  # nothing done the second time
    assert "all in place." in second.output
    assert second.output.count("exists") == 6


def test_setup_updates_a_sink_whose_filter_changed(standins, env):
    pubsub, logging = standins
    assert _invoke(["setup"], env).exit_code == 0
    result = _invoke(["setup", "--filter", 'resource.type="k8s_container"'], env)
    assert result.exit_code == 0, result.output
    assert re.search(r"^updated +sink ", result.output, re.M)
    assert logging.sinks[f"projects/{PROJECT}/sinks/logwarden"].filter == (
        'resource.type="k8s_container"'
    )
    assert logging.book.calls["UpdateSink"] == 1
    assert pubsub.book.calls["SetIamPolicy"] == 1  # the writer identity kept its grant


def test_dry_run_prints_gcloud_and_touches_nothing(standins, env):
    pubsub, logging = standins
    result = _invoke(["setup", "--dry-run"], env)
    assert result.exit_code == 0
    commands = [line for line in result.output.splitlines() if line.startswith("gcloud ")]
    assert commands[0] == f"gcloud pubsub topics create logwarden --project={PROJECT}"
    assert any(
        c.startswith("gcloud logging sinks create logwarden pubsub.googleapis.com/")
        for c in commands
    )
    assert any("--dead-letter-topic=logwarden-dead-letter" in c for c in commands)
    assert sum(pubsub.book.calls.values()) + sum(logging.book.calls.values()) == 0


@pytest.mark.parametrize(
    ("method", "role"),
    [
        ("CreateSink", "roles/logging.configWriter"),
        ("SetIamPolicy", "roles/pubsub.admin"),
        ("CreateTopic", "roles/pubsub.editor"),
    ],
)
def test_a_refusal_names_the_role(standins, env, method, role):
    pubsub, logging = standins
    (logging.book if method.endswith("Sink") else pubsub.book).deny(method)
    result = _invoke(["setup"], env)
    assert result.exit_code == 1
    assert result.stderr.startswith("logwarden: ")
    assert role in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _fill(logging: CloudLoggingStandIn, entries: list[LogEntry]) -> None:
    logging.entries = sorted(entries, key=lambda e: e.timestamp.timestamp())


def test_backfill_pages_and_resumes(standins, env, entries, tmp_path):
    _, logging = standins
    labels = tmp_path / "incidents.csv"
    labels.write_text("zookeeper,2026-11-02T08:00:00Z,2026-11-02T08:02:00Z,test\n")
    _fill(logging, entries)
    args = [
        "backfill",
        "--start",
        "2026-11-01T00:00:00Z",
        "--end",
        "2026-11-03T00:00:00Z",
        "--filter",
        "severity>=DEFAULT",
        "--page-size",
        "25",
        "--save",
        str(tmp_path / "x.jsonl"),
        "--labels",
        str(labels),
    ]

    # The API refuses the fourth page (a quota): the run stops cleanly, says how to go on.
    logging.list_failures[4] = (grpc.StatusCode.RESOURCE_EXHAUSTED, "Quota exceeded for reads")
    first = _invoke(args, env)
    assert first.exit_code == 1, first.output
    assert "Quota exceeded" in first.stderr and "run the same command again" in first.stderr
    assert summary_count(first.output, "entries") == 75
    checkpoint = json.loads((tmp_path / "logwarden-backfill.json").read_text())
    assert checkpoint["entries"] == 75 and not checkpoint["complete"]

    second = _invoke(args, env)
    assert second.exit_code == 0, second.output
    assert summary_count(second.output, "entries") == ENTRIES - 75
    assert f"backfill complete: {ENTRIES} entries" in second.output
    # ... and scored as `logwarden eval` scores a file: the saved entries, all of them.
    assert re.search(rf"^x.jsonl \(JSON lines\): {ENTRIES} entries", second.output, re.M)
    assert re.search(r"^combined\s+\d", second.output, re.M)
    resumed = logging.list_requests[4].filter
    assert f'timestamp >= "{checkpoint["after"]}"' in resumed
    assert "(severity>=DEFAULT)" in resumed and 'timestamp < "2026-11-03T00:00:00Z"' in resumed
    assert len(logging.list_requests) == 4 + 2  # (120 - 75) entries are two pages of 25

    third = _invoke(args, env)  # a complete backfill does not read again
    assert third.exit_code == 0 and summary_count(third.output, "entries") == 0
    assert len(logging.list_requests) == 6

    saved = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert sorted(e["insertId"] for e in saved) == sorted(e.insert_id for e in entries)


def test_backfill_refused_at_once_names_the_role(standins, env):
    _, logging = standins
    logging.book.deny("ListLogEntries")
    result = _invoke(["backfill"], env)
    assert result.exit_code == 1
    assert "reading log entries was refused" in result.stderr
    assert "roles/logging.viewer" in result.stderr


def test_tail_runs_live_entries_through_the_pipeline(standins, env, entries):
    _, logging = standins

    def feed() -> None:
        time.sleep(0.5)
        for start in range(0, 60, 20):
            logging.tail(entries[start : start + 20])
            time.sleep(0.05)

    threading.Thread(target=feed, daemon=True).start()
    result = _invoke(
        ["tail", "--filter", "severity>=INFO", "--max-entries", "60", "--seconds", "30"], env
    )
    assert result.exit_code == 0, result.output
    assert summary_count(result.output, "entries") == 60
    counted = (summary_count(result.output, name) for name in ("processed", "duplicates"))
    assert sum(counted) == 60
    assert logging.tail_requests[0].filter == "severity>=INFO"
    assert list(logging.tail_requests[0].resource_names) == [f"projects/{PROJECT}"]


def test_setup_as_a_real_process(standins, env, tmp_path):
    from tests.workers.clirun import logwarden

    pubsub, logging = standins
    process_env = {k: v for k, v in env.items() if k != "LOGWARDEN_CHANNELS"}
    first = logwarden("setup", cwd=tmp_path, env=process_env)
    assert first.returncode == 0, first.stderr
    assert _mutations(pubsub, logging) == 6
    logging.book.deny("GetSink")
    refused = logwarden("setup", cwd=tmp_path, env=process_env)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"logwarden: reading sink projects/{PROJECT}/sinks/logwarden was refused: the account "
        "needs roles/logging.configWriter (Logs Configuration Writer)"
    ]
    assert _mutations(pubsub, logging) == 6


def test_ctrl_c_ends_a_tail_with_its_summary(standins, env, entries, tmp_path):
    import os
    import signal
    import subprocess

    from tests.workers.clirun import LOGWARDEN

    _, logging = standins
    process_env = {**{k: v for k, v in os.environ.items() if not k.startswith("LOGWARDEN_")}, **env}
    tail = subprocess.Popen(
        [str(LOGWARDEN), "tail"],
        cwd=tmp_path,
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not logging.tail_requests and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logging.tail_requests, "the tail never started"
        logging.tail(entries[:40])
        time.sleep(1.0)
        tail.send_signal(signal.SIGINT)
        out, err = tail.communicate(timeout=60)
    finally:
        tail.kill()
    assert tail.returncode == 0, err
    assert "Traceback" not in out + err
    assert summary_count(out, "entries") == 40
    assert "all entries accounted for: yes" in out
