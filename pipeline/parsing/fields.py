"""Turning single LogEntry fields into ours: severity, HTTP status and latency, names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from urllib.parse import unquote

from pipeline.entry import Severity
from pipeline.parsing.rejection import InvalidInput, RejectReason, quote

# The names as written; `severity_of` reads any other spelling, and numbers. Any wire value
# may be looked up in it (a number or None finds nothing).
SEVERITY_BY_NAME: dict[str | int | None, Severity] = {
    **{s.name: s for s in Severity},
    "WARN": Severity.WARNING,
    "FATAL": Severity.CRITICAL,
    "": Severity.DEFAULT,
}
_SEVERITY_BY_NUMBER: dict[int, Severity] = {s.value: s for s in Severity}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)s\Z", re.ASCII)
_LOG_NAME = re.compile(r"(projects|organizations|folders|billingAccounts)/([^/]+)/logs/(.+)\Z")

SERVICE_RESOURCE_LABELS = (
    "service_name",  # Cloud Run
    "container_name",  # GKE
    "function_name",  # Cloud Functions
    "module_id",  # App Engine
    "job_name",  # Cloud Run jobs, Dataflow
    "configuration_name",  # Cloud Run (older revisions)
    "cluster_name",  # Dataproc
)
SERVICE_ENTRY_LABELS = (
    "k8s-pod/app",
    "app",
    "service",
    "compute.googleapis.com/resource_name",  # a GCE VM's name
)


def severity_of(value: str | int | None) -> Severity:
    """A LogSeverity name (any case, WARN and FATAL too) or number; absent means DEFAULT."""
    if value is None:
        return Severity.DEFAULT
    if isinstance(value, int):
        found = _SEVERITY_BY_NUMBER.get(value)
    else:
        found = SEVERITY_BY_NAME.get(value) or SEVERITY_BY_NAME.get(value.strip().upper())
        if found is None and value.strip().isdecimal():
            found = _SEVERITY_BY_NUMBER.get(int(value))
    if found is None:
        raise InvalidInput(
            RejectReason.BAD_SEVERITY,
            f"Field severity holds {quote(value)}, which is no LogSeverity name or number.",
        )
    return found


def http_status_of(value: int | str | None) -> int | None:
    """httpRequest.status: a number, or a numeric string, from 0 to 999."""
    if value is None:
        return None
    status = value
    if isinstance(value, str):
        status = int(value) if value.isascii() and value.isdigit() else -1
    if not isinstance(status, int) or not 0 <= status <= 999:
        raise InvalidInput(
            RejectReason.WRONG_TYPE,
            f"Field httpRequest.status holds {quote(value)}, which is not an HTTP status code.",
        )
    return status


def latency_s_of(value: str | None) -> float | None:
    """httpRequest.latency, a protobuf Duration such as "0.250s", in seconds."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if match is None:
        raise InvalidInput(
            RejectReason.WRONG_TYPE,
            f"Field httpRequest.latency holds {quote(value)}, not a duration such as '0.250s'.",
        )
    return float(match[1])


def log_name_parts(log_name: str) -> tuple[str, str]:
    """(project, short name) of a log name; the project is "" for org/folder/billing logs."""
    match = _LOG_NAME.match(log_name)
    if match is None:
        return "", unquote(log_name.rpartition("/")[2])
    project = match[2] if match[1] == "projects" else ""
    return project, unquote(match[3])


def labelled_service(resource_labels: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """The service named by resource or entry labels (see the orders above), or ""."""
    if resource_labels:
        for key in SERVICE_RESOURCE_LABELS:
            if value := resource_labels.get(key):
                return value
    if labels:
        for key in SERVICE_ENTRY_LABELS:
            if value := labels.get(key):
                return value
    return ""


def synthetic_insert_id(*parts: bytes) -> str:
    """A stable id for an entry without insertId: the same bytes give the same id."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "lw-" + digest.hexdigest()
