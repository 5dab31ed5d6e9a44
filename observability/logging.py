"""The service's own log lines: one JSON object each, with trace and domain ids; secrets redacted.

`configure_logging` installs one handler on the root logger. Each line carries time,
severity, logger and message, the OpenTelemetry trace and span ids of the current span
(under the names Cloud Logging reads: `logging.googleapis.com/trace` and `/spanId`), the
ids given with `extra={"batch_id": ..., "anomaly_id": ..., "alert_id": ...}` (and any
other `extra` field), and the exception when there is one. Every configured secret value
is replaced by `[REDACTED]` in all of that before it is written, and task arguments
(log text) that Celery hands its log lines are never written at all.
"""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
_TASK_ARGUMENTS = frozenset({"args", "kwargs"})
ID_FIELDS = ("batch_id", "anomaly_id", "alert_id")
MIN_SECRET_LENGTH = 4  # shorter "secrets" would shred ordinary words
_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class SecretRedactor(logging.Filter):
    """Replaces each secret value in a record's message, exception, stack and extras."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        kept = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(kept, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, self._redact_value(value))
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        return value


class TaskArgumentsFilter(logging.Filter):
    """Celery passes a task's arguments to its log lines as `extra={"data": {...}}`
    ("Task received", failures); a batch's arguments are log text, so they are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if isinstance(data, dict) and ("args" in data or "kwargs" in data):
            record.data = {k: v for k, v in data.items() if k not in _TASK_ARGUMENTS}
        return True


class TraceContextFilter(logging.Filter):
    """Stamps the current span's trace and span ids on the record, when there is a span."""

    def __init__(self) -> None:
        super().__init__()
        # Imported by the processes that log through this filter only: a run that does
        # not configure logging (`logwarden run`) does without OpenTelemetry's 3 ms.
        from opentelemetry import trace

        self._trace = trace

    def filter(self, record: logging.LogRecord) -> bool:
        trace = self._trace
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, in the fields Cloud Logging reads as a
    structured entry. `trace_project` makes the trace a `projects/P/traces/T` link."""

    def __init__(self, trace_project: str | None = None) -> None:
        super().__init__()
        self._trace_prefix = f"projects/{trace_project}/traces/" if trace_project else ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extras = _extras(record)
        trace_id, span_id = extras.pop("trace_id", None), extras.pop("span_id", None)
        if trace_id:
            line[TRACE_FIELD] = self._trace_prefix + str(trace_id)
            line[SPAN_FIELD] = span_id
        line.update(extras)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return jsonlib.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines for the CLI, with the ids appended when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in ID_FIELDS if hasattr(record, key))
        if not ids:
            return text
        head, newline, rest = text.partition("\n")
        return f"{head} [{ids}]{newline}{rest}"


def configure_logging(
    level: str,
    json: bool = True,
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    trace_project: str | None = None,
) -> logging.Handler:
    """Routes every log record to one handler on the root logger, writing to `stream`
    (stderr by default): JSON lines, or plain lines for the CLI when `json` is false.

    Calling it again replaces the handler it installed before. Raises `ValueError` on an
    unknown level name. Returns the handler.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name("logwarden")
    handler.addFilter(TraceContextFilter())
    # On the handler, not the logger: logger filters do not see records from child loggers.
    handler.addFilter(TaskArgumentsFilter())
    handler.addFilter(SecretRedactor(secrets))
    handler.setFormatter(JsonFormatter(trace_project) if json else PlainFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "logwarden"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    return handler


def mask_url(url: str) -> str:
    """`url` with its password, if any, replaced by `***` (for printing and logging)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS}


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
