"""The services of the development sets the bundled sample does not have, and how their
lines are written (the others come from `workers.sample.services` and `cloudrun`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workers.sample.entries import PROJECT, Payload, Stream
from workers.sample.loghub import LoghubLine
from workers.sample.services import REGION, severity_of, sshd_severity


def gke(service: str, namespace: str, pod: str, node: str) -> Stream:
    """A container on the production GKE cluster, logging to stdout."""
    labels = {
        "project_id": PROJECT,
        "location": REGION,
        "cluster_name": "prod-gke-1",
        "namespace_name": namespace,
        "pod_name": pod,
        "container_name": service,
    }
    node_labels = {
        "k8s-pod/app": service,
        "compute.googleapis.com/resource_name": f"gke-prod-gke-1-{node}",
    }
    return Stream(service, "k8s_container", labels, "stdout", node_labels, 9, "k8s")


def gce(service: str, instance_id: str, log_id: str, zone: str = "b") -> Stream:
    """A Compute Engine VM whose agent ships one log file."""
    labels = {"project_id": PROJECT, "instance_id": instance_id, "zone": f"{REGION}-{zone}"}
    return Stream(
        service,
        "gce_instance",
        labels,
        log_id,
        {"compute.googleapis.com/resource_name": service},
        0,
        "gce",
    )


WEB = gce("web-frontend", "7712093345120958311", "apache-error")
PROXY = gce("egress-proxy", "2290187345566120947", "proxifier", zone="c")
LEGACY = gce("legacy-host", "6650912873340021876", "syslog")
NOVA_COMPUTE = gke("nova-compute", "compute", "nova-compute-2", "highmem-1f0c2a9e-9zpl")
HEALTH = gke("health-sync", "mobile", "health-sync-5d8c7b6f9-q2kxm", "default-pool-8b31d0c4-k4fz")


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, UTC)


def render_apache(line: LoghubLine, ns: int) -> Payload:
    """Apache's error_log: `[Sun Dec 04 04:47:44 2005] [notice] text`, new time."""
    text = f"[{_utc(ns):%a %b %d %H:%M:%S %Y}] [{line.level}] {line.content}"
    return Payload(severity_of(line.level), "textPayload", text)


def proxifier_severity(content: str) -> str:
    """Proxifier writes no level; its failures say ` error : `."""
    return "ERROR" if " error : " in content else "INFO"


def render_proxifier(line: LoghubLine, ns: int) -> Payload:
    """`[11.02 16:49:06] chrome.exe - text`, as Proxifier's log file has it."""
    text = f"[{_utc(ns):%m.%d %H:%M:%S}] {line.get('Program')} - {line.content}"
    return Payload(proxifier_severity(line.content), "textPayload", text)


def render_linux(line: LoghubLine, ns: int) -> Payload:
    """A classic syslog line of the host `legacy-host`."""
    when = _utc(ns)
    pid = f"[{line.get('PID')}]" if line.get("PID") else ""
    text = f"{when:%b} {when.day:>2} {when:%H:%M:%S} legacy-host {line.component}{pid}: "
    return Payload(sshd_severity(line.content), "textPayload", text + line.content)


def render_nova_compute(line: LoghubLine, ns: int) -> Payload:
    """nova-compute's structured log line."""
    message: dict[str, Any] = {"message": line.content, "logger": line.component}
    request_id = line.get("ADDR").split(" ")[0]
    if request_id.startswith("req-"):
        message["request_id"] = request_id
    return Payload(severity_of(line.level), "jsonPayload", message)


def render_health(line: LoghubLine, ns: int) -> Payload:
    """The health app's sync service: component and pid beside the message; no level."""
    message = {"message": line.content, "component": line.component, "pid": line.get("Pid")}
    return Payload("INFO", "jsonPayload", message)
