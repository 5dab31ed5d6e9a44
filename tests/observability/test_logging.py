"""The service's log lines: one JSON object each, with trace and domain ids, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry import trace

from observability.logging import (
    REDACTED,
    SPAN_FIELD,
    TRACE_FIELD,
    configure_logging,
    mask_url,
)
from observability.tracing import build_tracer_provider

log = logging.getLogger("logwarden.test")
SLACK_URL = "https://hooks.slack.com/services/T0/B0/s3cr3tW3bh00k"
SMTP_PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_severity_logger_and_message() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    log.info("batch of %d entries", 12)
    log.debug("not at INFO")
    [line] = lines(out)
    assert line["message"] == "batch of 12 entries"
    assert line["severity"] == "INFO"  # the field Cloud Logging reads; `level` it does not
    assert line["logger"] == "logwarden.test"
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None
    assert TRACE_FIELD not in line  # no span, no trace id


def test_ids_given_with_extra_are_fields() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    log.warning("stored", extra={"batch_id": "b-1", "anomaly_id": 7, "alert_id": "al-9"})
    [line] = lines(out)
    assert (line["batch_id"], line["anomaly_id"], line["alert_id"]) == ("b-1", 7, "al-9")


def test_lines_inside_a_span_carry_its_trace_and_span_ids() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out, trace_project="acme-prod")
    tracer = build_tracer_provider("logwarden-test", "none").get_tracer("test")
    with tracer.start_as_current_span("detect") as span:
        log.info("inside", extra={"batch_id": "b-2"})
        context = span.get_span_context()
    log.info("outside")
    inside, outside = lines(out)
    trace_id = trace.format_trace_id(context.trace_id)
    assert inside[TRACE_FIELD] == f"projects/acme-prod/traces/{trace_id}"
    assert inside[SPAN_FIELD] == trace.format_span_id(context.span_id)
    assert inside["batch_id"] == "b-2"
    assert TRACE_FIELD not in outside and "trace_id" not in inside


def test_task_arguments_celery_hands_its_log_lines_are_never_written() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out, secrets=["hunter2-secret"])
    context = {"id": "t-1", "name": "logwarden.detect_batch", "args": "['login pw=x']",
               "kwargs": "{}"}
    logging.getLogger("celery.worker.strategy").info(
        "Task %(name)s[%(id)s] received", context, extra={"data": context})
    log.info("nested", extra={"data": {"tokens": ["a hunter2-secret b"]}})
    received, nested = lines(out)
    assert received["message"] == "Task logwarden.detect_batch[t-1] received"
    assert received["data"] == {"id": "t-1", "name": "logwarden.detect_batch"}
    assert nested["data"] == {"tokens": [f"a {REDACTED} b"]}


def test_urls_print_without_their_password() -> None:
    assert mask_url("postgresql+psycopg://app:s3cr%40t@db:5432/logs") == (
        "postgresql+psycopg://app:***@db:5432/logs")
    assert mask_url("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("sqlite:///logwarden.db") == "sqlite:///logwarden.db"


def test_an_exception_stays_on_one_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    try:
        raise ConnectionError("broker went away")
    except ConnectionError:
        log.exception("publish failed")
    [line] = lines(out)
    assert "ConnectionError: broker went away" in line["exception"]
    assert "Traceback" in line["exception"]


def test_secrets_are_redacted_from_message_arguments_extras_and_exceptions() -> None:
    out = io.StringIO()
    configure_logging("INFO", secrets=[SLACK_URL, SMTP_PASSWORD, ""], stream=out)
    log.info("posting to %s", SLACK_URL)
    log.info("login with " + SMTP_PASSWORD, extra={"target": f"smtp://u:{SMTP_PASSWORD}@mail"})
    try:
        raise PermissionError(f"rejected {SMTP_PASSWORD}")
    except PermissionError:
        log.error("smtp", exc_info=True)
    text = out.getvalue()
    assert SLACK_URL not in text
    assert SMTP_PASSWORD not in text
    first, second, third = lines(out)
    assert first["message"] == f"posting to {REDACTED}"
    assert second["target"] == f"smtp://u:{REDACTED}@mail"
    assert f"rejected {REDACTED}" in third["exception"]


def test_plain_mode_is_for_people() -> None:
    out = io.StringIO()
    configure_logging("info", json=False, secrets=[SMTP_PASSWORD], stream=out)
    log.info("alert sent with %s", SMTP_PASSWORD, extra={"alert_id": "al-3"})
    text = out.getvalue().strip()
    assert not text.startswith("{")
    assert text.endswith(f"logwarden.test: alert sent with {REDACTED} [alert_id=al-3]")


def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    configure_logging("WARNING", stream=second)
    log.info("dropped at WARNING")
    log.warning("kept")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["kept"]


def test_an_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")
