"""parse_entry on LogEntry JSON as log sinks write it: payload kinds, times, names."""

from __future__ import annotations

import calendar
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.entry import LogEntry, Severity
from pipeline.parsing import Rejection, RejectReason, parse_entry, rfc3339_ns

NS = 1_000_000_000


def gke_container_entry() -> dict[str, Any]:
    return {
        "insertId": "4l1x8rfm6k2b1t7q",
        "textPayload": "E0501 12:00:00.123456 1 main.go:88] dial tcp 10.4.0.7:6379: connect: "
        "connection refused",
        "resource": {
            "type": "k8s_container",
            "labels": {
                "project_id": "acme-prod",
                "location": "europe-west1-b",
                "cluster_name": "main",
                "namespace_name": "shop",
                "pod_name": "checkout-7f9c6d-xk2pq",
                "container_name": "server",
            },
        },
        "timestamp": "2024-05-01T12:00:00.123456789Z",
        "severity": "ERROR",
        "labels": {
            "k8s-pod/app": "checkout",
            "k8s-pod/pod-template-hash": "7f9c6d",
            "compute.googleapis.com/resource_name": "gke-main-pool-1-abcd",
        },
        "logName": "projects/acme-prod/logs/stderr",
        "receiveTimestamp": "2024-05-01T12:00:01.500Z",
    }


def cloud_run_entry() -> dict[str, Any]:
    return {
        "insertId": "66301f3e000a1b2c3d4e5f60",
        "httpRequest": {
            "requestMethod": "POST",
            "requestUrl": "https://checkout-abc-ew.a.run.app/api/pay",
            "requestSize": "512",
            "status": 503,
            "responseSize": "120",
            "userAgent": "curl/8.0",
            "remoteIp": "203.0.113.9",
            "latency": "0.250s",
            "protocol": "HTTP/1.1",
        },
        "jsonPayload": {
            "message": "payment provider timed out",
            "order_id": "o-123",
            "attempt": 3,
            "provider": {"name": "stripe", "region": "eu"},
        },
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "checkout",
                "revision_name": "checkout-00042-abc",
                "location": "europe-west1",
                "configuration_name": "checkout",
                "project_id": "acme-prod",
            },
        },
        "timestamp": "2024-05-01T12:00:00.250Z",
        "severity": "ERROR",
        "labels": {"instanceId": "00c527f6d4a1"},
        "logName": "projects/acme-prod/logs/run.googleapis.com%2Fstdout",
        "trace": "projects/acme-prod/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "00f067aa0ba902b7",
        "traceSampled": True,
        "receiveTimestamp": "2024-05-01T12:00:00.400123Z",
    }


def audit_log_entry() -> dict[str, Any]:
    return {
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "status": {},
            "authenticationInfo": {"principalEmail": "alice@example.com"},
            "requestMetadata": {"callerIp": "198.51.100.7", "callerSuppliedUserAgent": "gcloud"},
            "serviceName": "run.googleapis.com",
            "methodName": "google.cloud.run.v1.Services.ReplaceService",
            "authorizationInfo": [{"permission": "run.services.update", "granted": True}],
            "resourceName": "namespaces/p/services/x",
            "request": {"@type": "type.googleapis.com/google.cloud.run.v1.ReplaceServiceRequest"},
        },
        "insertId": "-mv4xj1e2ab3",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": "x", "project_id": "p", "location": "us-central1"},
        },
        "timestamp": "2024-05-01T12:00:00.1Z",
        "severity": "NOTICE",
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
        "receiveTimestamp": "2024-05-01T12:00:00.9Z",
    }


def cloud_function_entry() -> dict[str, Any]:
    return {
        "textPayload": "Function execution took 42 ms, finished with status: 'crash'",
        "insertId": "000000-3f2a6b1c",
        "resource": {
            "type": "cloud_function",
            "labels": {"function_name": "resize-image", "project_id": "acme-prod", "region": "us"},
        },
        "timestamp": "2024-05-01T12:00:00.042000Z",
        "severity": "DEBUG",
        "labels": {"execution_id": "k2j3h4g5"},
        "logName": "projects/acme-prod/logs/cloudfunctions.googleapis.com%2Fcloud-functions",
        "trace": "projects/acme-prod/traces/0af7651916cd43dd8448eb211c80319c",
        "receiveTimestamp": "2024-05-01T12:00:00.300Z",
    }


def encode(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry).encode()


def parsed(entry: dict[str, Any] | bytes | str, **kwargs: Any) -> LogEntry:
    raw = entry if isinstance(entry, bytes | str) else encode(entry)
    result = parse_entry(raw, **kwargs)
    assert isinstance(result, LogEntry), result
    return result


def rejected(raw: bytes | str, **kwargs: Any) -> Rejection:
    result = parse_entry(raw, **kwargs)
    assert isinstance(result, Rejection), result
    return result


def ns_of(text: str) -> int:
    """Independent reference: seconds by calendar.timegm, the fraction by string."""
    stamp = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    fraction = text[20:].rstrip("Z") if len(text) > 20 and text[19] == "." else ""
    return calendar.timegm(stamp.timetuple()) * NS + int(fraction.ljust(9, "0") or 0)


# --- payload kinds ------------------------------------------------------------------


def test_gke_container_text_payload() -> None:
    raw = encode(gke_container_entry())
    entry = parsed(raw)
    assert entry.message.endswith("connect: connection refused")
    assert entry.insert_id == "4l1x8rfm6k2b1t7q"
    assert entry.severity is Severity.ERROR
    assert entry.timestamp_ns == ns_of("2024-05-01T12:00:00.123456789Z")
    assert entry.receive_timestamp_ns == ns_of("2024-05-01T12:00:01.500Z")
    assert (entry.project, entry.resource_type, entry.service) == (
        "acme-prod",
        "k8s_container",
        "server",
    )
    assert entry.resource_labels["pod_name"] == "checkout-7f9c6d-xk2pq"
    assert entry.labels["k8s-pod/app"] == "checkout"
    assert entry.log_name == "projects/acme-prod/logs/stderr"
    assert entry.payload is None
    assert entry.size == len(raw)


def test_cloud_run_json_payload_with_http_request() -> None:
    source = cloud_run_entry()
    entry = parsed(source)
    assert entry.message == "payment provider timed out"
    assert entry.payload == source["jsonPayload"]
    assert entry.http_status == 503
    assert entry.http_latency_s == pytest.approx(0.25)
    assert entry.trace == "projects/acme-prod/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry.span_id == "00f067aa0ba902b7"
    assert entry.service == "checkout"
    assert entry.log_name == "projects/acme-prod/logs/run.googleapis.com%2Fstdout"
    assert entry.receive_timestamp_ns == ns_of("2024-05-01T12:00:00.400123Z")


def test_cloud_run_request_log_without_payload_gets_a_message_from_the_request() -> None:
    source = cloud_run_entry()
    del source["jsonPayload"]
    entry = parsed(source)
    assert entry.message == "POST https://checkout-abc-ew.a.run.app/api/pay 503 0.250s"
    assert entry.payload is None


def test_audit_log_proto_payload_summary() -> None:
    source = audit_log_entry()
    entry = parsed(source)
    assert entry.message == (
        "AuditLog run.googleapis.com google.cloud.run.v1.Services.ReplaceService"
        " by alice@example.com on namespaces/p/services/x: OK"
    )
    assert entry.severity is Severity.NOTICE
    assert entry.payload == source["protoPayload"]
    assert (entry.project, entry.service) == ("p", "x")


def test_audit_log_with_error_status_names_the_code() -> None:
    source = audit_log_entry()
    source["protoPayload"]["status"] = {"code": 7, "message": "Permission denied"}
    del source["protoPayload"]["authenticationInfo"]
    entry = parsed(source)
    assert entry.message.endswith(
        "on namespaces/p/services/x: PERMISSION_DENIED (Permission denied)"
    )
    assert " by " not in entry.message


def test_other_proto_payload_kinds_are_summarised_not_rejected() -> None:
    source = audit_log_entry()
    source["protoPayload"] = {
        "@type": "type.googleapis.com/google.appengine.logging.v1.RequestLog",
        "method": "GET",
        "resource": "/cart",
        "status": 500,
    }
    assert parsed(source).message == "RequestLog GET /cart 500"
    source["protoPayload"] = {"@type": "type.googleapis.com/acme.v1.Thing", "x": 1}
    assert parsed(source).message == 'Thing {"x":1}'


def test_cloud_function_entry() -> None:
    entry = parsed(cloud_function_entry())
    assert entry.service == "resize-image"
    assert entry.resource_type == "cloud_function"
    assert entry.severity is Severity.DEBUG
    assert entry.message == "Function execution took 42 ms, finished with status: 'crash'"
    assert entry.labels == {"execution_id": "k2j3h4g5"}
    assert entry.timestamp_ns == ns_of("2024-05-01T12:00:00.042000Z")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"message": "a", "msg": "b", "log": "c"}, "a"),
        ({"msg": "b", "log": "c"}, "b"),
        ({"log": "c\n"}, "c\n"),
        ({"message": {"nested": True}, "msg": "b"}, "b"),
        ({"event": "login", "ok": False}, '{"event":"login","ok":false}'),
        ({}, "{}"),
    ],
)
def test_json_payload_message(payload: dict[str, Any], message: str) -> None:
    entry = parsed({"jsonPayload": payload, "timestamp": "2024-05-01T12:00:00Z"})
    assert entry.message == message
    assert entry.payload == payload


def test_str_input_parses_like_its_bytes() -> None:
    text = json.dumps(cloud_run_entry(), ensure_ascii=False).replace("timed out", "timed out ⏱")
    assert parsed(text) == parsed(text.encode())
    assert parsed(text).size == len(text.encode())


# --- timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", 1714564800 * NS),
        ("2024-05-01T12:00:00.1Z", 1714564800 * NS + 100_000_000),
        ("2024-05-01T12:00:00.123Z", 1714564800 * NS + 123_000_000),
        ("2024-05-01T12:00:00.123456Z", 1714564800 * NS + 123_456_000),
        ("2024-05-01T12:00:00.123456789Z", 1714564800 * NS + 123_456_789),
        ("2024-05-01T12:00:00.1234567891234Z", 1714564800 * NS + 123_456_789),
        ("2024-05-01T14:00:00.5+02:00", 1714564800 * NS + 500_000_000),
        ("2024-05-01T06:30:00-05:30", 1714564800 * NS),
        ("2024-05-01t12:00:00z", 1714564800 * NS),
        ("2024-05-01 12:00:00Z", 1714564800 * NS),
        ("2024-02-29T00:00:00Z", 1709164800 * NS),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_rfc3339_is_exact_to_the_nanosecond(text: str, expected: int) -> None:
    assert rfc3339_ns(text) == expected


def test_rfc3339_agrees_with_datetime_across_the_calendar() -> None:
    rng = random.Random(7)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        moment = start + timedelta(seconds=rng.randrange(4_000_000_000))
        nanos = rng.randrange(NS)
        offset_min = rng.choice([0, 60, -300, 330, 845, -720])
        local = moment + timedelta(minutes=offset_min)
        sign = "-" if offset_min < 0 else "+"
        zone = f"{sign}{abs(offset_min) // 60:02}:{abs(offset_min) % 60:02}"
        text = f"{local:%Y-%m-%dT%H:%M:%S}.{nanos:09}{zone}"
        assert rfc3339_ns(text) == calendar.timegm(moment.timetuple()) * NS + nanos, text


def test_entry_times_keep_every_nanosecond() -> None:
    entry = parsed({"textPayload": "x", "timestamp": "2024-05-01T12:00:00.000000001Z"})
    assert entry.timestamp_ns % NS == 1


def test_missing_timestamp_falls_back_to_receive_timestamp_then_receive_time() -> None:
    source = gke_container_entry()
    del source["timestamp"]
    assert parsed(source, receive_ns=5).timestamp_ns == ns_of("2024-05-01T12:00:01.500Z")
    del source["receiveTimestamp"]
    entry = parsed(source, receive_ns=1714564800 * NS)
    assert (entry.timestamp_ns, entry.receive_timestamp_ns) == (1714564800 * NS,) * 2
    assert rejected(encode(source)).reason is RejectReason.BAD_TIMESTAMP


# --- severity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ("ERROR", Severity.ERROR),
        ("error", Severity.ERROR),
        ("Warning", Severity.WARNING),
        ("WARN", Severity.WARNING),
        ("emergency", Severity.EMERGENCY),
        ("", Severity.DEFAULT),
        (None, Severity.DEFAULT),
        (400, Severity.WARNING),
        (0, Severity.DEFAULT),
        ("600", Severity.CRITICAL),
    ],
)
def test_severity_names_and_numbers(value: object, severity: Severity) -> None:
    source: dict[str, Any] = {"textPayload": "x", "timestamp": "2024-05-01T12:00:00Z"}
    if value is not None:
        source["severity"] = value
    assert parsed(source).severity is severity


def test_the_table_of_severity_names_reads_as_severity_of_does() -> None:
    """Parsing looks a severity up in the table first, and asks `severity_of` only when
    the table has no answer: where it has one, it is `severity_of`'s."""
    from pipeline.parsing.fields import SEVERITY_BY_NAME, severity_of

    values: list[str | int | None] = [*SEVERITY_BY_NAME, None, 0, 200, 999, "200", " info"]
    values += [name.lower() for name in SEVERITY_BY_NAME if isinstance(name, str)]
    for value in values:
        found = SEVERITY_BY_NAME.get(value)
        assert found is None or found is severity_of(value), value
    assert all(SEVERITY_BY_NAME.get(v) is None for v in (None, 0, 200, 999))


# --- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_labels", "labels", "log_name", "service"),
    [
        ({"service_name": "a", "container_name": "b"}, {}, "", "a"),
        ({"container_name": "b", "function_name": "c"}, {"k8s-pod/app": "z"}, "", "b"),
        ({"function_name": "c", "module_id": "d"}, {}, "", "c"),
        ({"module_id": "d", "job_name": "e"}, {}, "", "d"),
        ({"job_name": "e", "configuration_name": "f"}, {}, "", "e"),
        ({"configuration_name": "f"}, {"app": "y"}, "", "f"),
        ({"service_name": ""}, {"k8s-pod/app": "z", "app": "y"}, "", "z"),
        ({}, {"app": "y", "service": "w"}, "", "y"),
        ({}, {"service": "w"}, "projects/p/logs/syslog", "w"),
        ({}, {}, "projects/p/logs/cloudaudit.googleapis.com%2Fdata_access", None),
        ({}, {}, "", "gce_instance"),
    ],
)
def test_service_derivation_order(
    resource_labels: dict[str, str], labels: dict[str, str], log_name: str, service: str | None
) -> None:
    source: dict[str, Any] = {
        "textPayload": "x",
        "timestamp": "2024-05-01T12:00:00Z",
        "resource": {"type": "gce_instance", "labels": resource_labels},
        "labels": labels,
    }
    if log_name:
        source["logName"] = log_name
    expected = service or "cloudaudit.googleapis.com/data_access"
    assert parsed(source).service == expected


def test_project_comes_from_resource_labels_else_the_log_name() -> None:
    source = gke_container_entry()
    source["logName"] = "projects/other/logs/stderr"
    assert parsed(source).project == "acme-prod"
    del source["resource"]["labels"]["project_id"]
    assert parsed(source).project == "other"
    source["logName"] = "organizations/123/logs/cloudaudit.googleapis.com%2Fpolicy"
    assert parsed(source).project == ""


def test_missing_resource_is_global() -> None:
    entry = parsed({"textPayload": "x", "timestamp": "2024-05-01T12:00:00Z"})
    assert (entry.resource_type, entry.service, entry.resource_labels) == ("global", "global", {})


def test_http_status_as_numeric_string() -> None:
    source = cloud_run_entry()
    source["httpRequest"]["status"] = "404"
    source["httpRequest"]["latency"] = "12s"
    entry = parsed(source)
    assert (entry.http_status, entry.http_latency_s) == (404, 12.0)


# --- insert ids and limits -------------------------------------------------------------


def test_missing_insert_id_is_a_stable_hash_of_the_bytes() -> None:
    source = gke_container_entry()
    del source["insertId"]
    first, again = parsed(encode(source)), parsed(encode(source))
    assert first.insert_id == again.insert_id
    assert first.insert_id.startswith("lw-")
    source["textPayload"] += "!"
    assert parsed(source).insert_id != first.insert_id


def test_max_bytes_is_configurable() -> None:
    raw = encode(cloud_run_entry())
    assert isinstance(parse_entry(raw, max_bytes=len(raw)), LogEntry)
    assert rejected(raw, max_bytes=len(raw) - 1).reason is RejectReason.OVERSIZED


def test_source_names_the_rejection() -> None:
    assert rejected(b"{", source="app.jsonl:9").source == "app.jsonl:9"


# --- NUL characters ----------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def test_an_escaped_nul_anywhere_becomes_a_replacement_character() -> None:
    source = gke_container_entry()
    source["insertId"] = "id\u0000x"
    source["textPayload"] = "disk\u0000full"
    source["labels"] = {"k\u0000": "v\u0000"}
    source["resource"]["labels"]["container_name"] = "api\u0000"
    entry = parsed(encode(source))  # json.dumps writes each NUL as \u0000
    texts = [entry.insert_id, entry.message, entry.service, *_strings(entry.labels),
             *_strings(entry.resource_labels), *_strings(entry.payload)]
    assert not [t for t in texts if "\x00" in t]
    assert (entry.message, entry.insert_id) == ("disk\ufffdfull", "id\ufffdx")


def test_an_escaped_backslash_before_u0000_stays_text() -> None:
    raw = rb'{"textPayload": "C:\\u0000 and \\\u0000", "timestamp": "2026-11-02T08:00:00Z"}'
    assert parsed(raw).message == "C:\\u0000 and \\\ufffd"
