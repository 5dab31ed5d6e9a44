"""compute-api on Cloud Run: nova-api lines as structured logs, and its deploy audit entry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from workers.sample.entries import PROJECT, Payload, Stream, duration, rfc3339
from workers.sample.loghub import LoghubLine
from workers.sample.services import REGION, severity_of

METHOD = "google.cloud.run.v1.Services.ReplaceService"
_REQUEST = re.compile(
    r'^(?P<ips>[\d.,]+) "(?P<method>[A-Z]+) (?P<url>\S+) (?P<protocol>[^"]+)" '
    r"status: (?P<status>\d+) len: (?P<size>\d+) time: (?P<seconds>[\d.]+)$"
)


def http_request(content: str) -> dict[str, Any] | None:
    """`httpRequest` from a nova wsgi access line, or None when the line is not one."""
    match = _REQUEST.match(content)
    if match is None:
        return None
    return {
        "requestMethod": match["method"],
        "requestUrl": match["url"],
        "status": int(match["status"]),
        "responseSize": match["size"],
        "remoteIp": match["ips"].split(",")[0],
        "latency": duration(float(match["seconds"])),
        "protocol": match["protocol"],
    }


def trace_fields(request_id: str) -> dict[str, Any]:
    """The same request id always maps to the same trace and span."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=24).hexdigest()
    return {"trace": f"projects/{PROJECT}/traces/{digest[:32]}", "spanId": digest[32:48]}


@dataclass(frozen=True, slots=True)
class Revision:
    name: str
    instance_ids: tuple[str, ...]


def cloud_run_stream(revision: Revision) -> Stream:
    labels = {
        "project_id": PROJECT,
        "location": REGION,
        "service_name": "compute-api",
        "revision_name": revision.name,
        "configuration_name": "compute-api",
    }
    return Stream(
        "compute-api",
        "cloud_run_revision",
        labels,
        "run.googleapis.com/stdout",
        {"instanceId": revision.instance_ids[0]},
        6,
        "run",
    )


def render_compute_api(line: LoghubLine, revision: Revision, instance: int) -> Payload:
    """A nova-api line as a Cloud Run structured log: message, logger, request, trace."""
    request_id = line.get("ADDR").split(" ")[0]
    message: dict[str, Any] = {"message": line.content, "logger": line.component}
    extra: dict[str, Any] = {}
    if request_id.startswith("req-"):
        message["request_id"] = request_id
        extra = trace_fields(request_id)
    request = http_request(line.content)
    if request is not None:
        extra["httpRequest"] = request
    stream = cloud_run_stream(revision)
    return Payload(
        severity_of(line.level),
        "jsonPayload",
        message,
        extra,
        resource_labels=stream.resource_labels,
        labels={"instanceId": revision.instance_ids[instance]},
    )


AUDIT = Stream(
    "compute-api",
    "cloud_run_revision",
    {
        "project_id": PROJECT,
        "location": REGION,
        "service_name": "compute-api",
        "revision_name": "",
        "configuration_name": "",
    },
    "cloudaudit.googleapis.com/activity",
    {},
    9,
    "audit",
)


def audit_payload(when_ns: int, revision: Revision) -> Payload:
    """The admin-activity audit entry `gcloud run deploy` leaves."""
    name = f"namespaces/{PROJECT}/services/compute-api"
    image = f"{REGION}-docker.pkg.dev/{PROJECT}/apps/compute-api:1.42.0"
    proto: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": {"principalEmail": f"deploy-bot@{PROJECT}.iam.gserviceaccount.com"},
        "requestMetadata": {
            "callerIp": "34.140.22.17",
            "callerSuppliedUserAgent": "google-cloud-sdk gcloud/497.0.0 command/gcloud.run.deploy",
            "requestAttributes": {"time": rfc3339(when_ns, 6), "auth": {}},
            "destinationAttributes": {},
        },
        "serviceName": "run.googleapis.com",
        "methodName": METHOD,
        "authorizationInfo": [
            {
                "resource": name,
                "permission": "run.services.update",
                "granted": True,
                "resourceAttributes": {},
            }
        ],
        "resourceName": name,
        "request": {
            "@type": "type.googleapis.com/google.cloud.run.v1.ReplaceServiceRequest",
            "name": name,
            "service": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"name": "compute-api", "namespace": PROJECT},
                "spec": {
                    "template": {
                        "metadata": {"name": revision.name},
                        "spec": {"containers": [{"image": image}]},
                    },
                    "traffic": [{"latestRevision": True, "percent": 100}],
                },
            },
        },
        "response": {
            "@type": "type.googleapis.com/google.cloud.run.v1.Service",
            "metadata": {"name": "compute-api", "generation": 42},
            "status": {"latestCreatedRevisionName": revision.name},
        },
    }
    return Payload("NOTICE", "protoPayload", proto)
