from __future__ import annotations

import io
import json
from pathlib import Path

from alerting.alert import AlertMessage
from alerting.console import ConsoleNotifier, FileNotifier, MemoryNotifier, message_fields
from alerting.notifier import give_up, retry_later
from pipeline.anomaly import AnomalySeverity
from tests.alerting.factory import DETAILS, alert_message, as_outbox_payload


def test_console_prints_a_readable_block() -> None:
    out = io.StringIO()
    result = ConsoleNotifier(out).send(alert_message())
    assert result.ok and result.reason is None
    lines = out.getvalue().splitlines()
    assert lines[0] == "[CRITICAL] checkout: error burst"
    assert "  stream: acme-prod/k8s_container/checkout" in lines
    assert "  type: error_burst" in lines
    assert "  first seen: 2026-11-03T09:14:00Z" in lines
    assert "  count: 3" in lines
    assert "  Errors jumped from 2% to 41% of checkout's entries in one minute." in lines
    details = lines.index(f"  - {DETAILS[0]}")
    assert lines[details : details + 2] == [f"  - {line}" for line in DETAILS]
    assert lines[-2:] == ["  Acknowledge: logwarden ack alert-7f3a",
                          "  Silence: logwarden silence add service=checkout"]


def test_console_accepts_messages_rebuilt_by_the_outbox() -> None:
    out = io.StringIO()
    message = as_outbox_payload(alert_message(severity=AnomalySeverity.WARNING))
    assert ConsoleNotifier(out).send(message).ok
    assert out.getvalue().startswith("[WARNING] checkout: error burst\n")


def test_console_leaves_out_empty_facts_and_details() -> None:
    out = io.StringIO()
    ConsoleNotifier(out).send(alert_message(details=(), first_seen="", summary=""))
    assert "first seen" not in out.getvalue()
    assert "  - " not in out.getvalue()


def test_closed_console_is_a_permanent_failure() -> None:
    out = io.StringIO()
    out.close()
    result = ConsoleNotifier(out).send(alert_message())
    assert (result.ok, result.retryable) == (False, False)


def test_file_appends_one_json_object_per_alert(tmp_path: Path) -> None:
    path = tmp_path / "alerts" / "alerts.jsonl"
    notifier = FileNotifier(path)
    first = alert_message()
    second = alert_message(alert_id="alert-2", summary="Ünïcödé ✓ stays readable")
    assert notifier.send(first).ok and notifier.send(as_outbox_payload(second)).ok
    text = path.read_text(encoding="utf-8")
    assert "Ünïcödé ✓" in text  # not \u-escaped
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows == [message_fields(first), message_fields(second)]
    assert rows[0]["severity"] == "critical" and rows[0]["details"] == list(DETAILS)


def test_file_rows_rebuild_the_message(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    FileNotifier(path).send(alert_message())
    row = json.loads(path.read_text())
    assert AlertMessage.from_payload(row) == alert_message()


def test_unwritable_file_is_retryable_and_does_not_raise(tmp_path: Path) -> None:
    result = FileNotifier(tmp_path).send(alert_message())  # a directory, not a file
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason is not None and "cannot append" in result.reason


def test_memory_notifier_answers_as_scripted_then_succeeds() -> None:
    scripted = [retry_later("busy", 3.0), give_up("gone")]
    notifier = MemoryNotifier("slack", scripted)
    results = [notifier.send(alert_message(alert_id=str(i))) for i in range(3)]
    assert results[:2] == scripted and results[2].ok
    assert [m.alert_id for m in notifier.attempts] == ["0", "1", "2"]
