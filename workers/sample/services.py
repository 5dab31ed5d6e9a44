"""Five of the services: where each runs and how its lines are written (compute-api is in
`cloudrun.py`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from workers.sample.entries import PROJECT, Payload, Stream
from workers.sample.loghub import LoghubLine

REGION = "europe-west1"

_LEVELS = {
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
    "NOTICE": "NOTICE",
}
_SSHD_ERROR = re.compile(r"^error: ")
_SSHD_FATAL = re.compile(r"^fatal: ")
_SSHD_FAILURE = re.compile(
    r"Failed (password|none)|[Ii]nvalid user|authentication failure|BREAK-IN ATTEMPT"
    r"|Too many authentication failures|ignoring max retries|user unknown"
    r"|Did not receive identification"
)


def severity_of(level: str) -> str:
    """Cloud Logging's severity name for a log level as the system wrote it."""
    return _LEVELS.get(level.upper(), "DEFAULT")


def sshd_severity(content: str) -> str:
    """OpenSSH lines carry no level: error()/fatal() prefixes, then failures by meaning."""
    if _SSHD_FATAL.match(content):
        return "CRITICAL"
    if _SSHD_ERROR.match(content):
        return "ERROR"
    return "WARNING" if _SSHD_FAILURE.search(content) else "INFO"


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, UTC).replace(microsecond=ns // 1000 % 10**6)


def _gke(namespace: str, pod: str, container: str, node: str) -> dict[str, Any]:
    return {
        "resource_type": "k8s_container",
        "resource_labels": {
            "project_id": PROJECT,
            "location": REGION,
            "cluster_name": "prod-gke-1",
            "namespace_name": namespace,
            "pod_name": pod,
            "container_name": container,
        },
        "labels": {
            "k8s-pod/app": container,
            "compute.googleapis.com/resource_name": f"gke-prod-gke-1-{node}",
        },
        "timestamp_digits": 9,
        "insert_id_style": "k8s",
    }


SPARK = Stream(
    "spark-executor",
    log_id="stdout",
    **_gke(
        "analytics", "spark-executor-7c9f6d5b8-4xkqz", "spark-executor", "highmem-1f0c2a9e-7qkd"
    ),
)
ZOOKEEPER = Stream(
    "zookeeper",
    log_id="stdout",
    **_gke("coordination", "zookeeper-1", "zookeeper", "default-pool-8b31d0c4-m2xw"),
)
HDFS = Stream(
    "hdfs", log_id="stdout", **_gke("storage", "hdfs-0", "hdfs", "default-pool-8b31d0c4-r7tn")
)
BASTION = Stream(
    "bastion-1",
    "gce_instance",
    {"project_id": PROJECT, "instance_id": "5316204932283415071", "zone": f"{REGION}-b"},
    "syslog",
    {"compute.googleapis.com/resource_name": "bastion-1"},
    0,
    "gce",
)
HADOOP = Stream(
    "etl-hadoop",
    "cloud_dataproc_cluster",
    {
        "project_id": PROJECT,
        "region": REGION,
        "cluster_name": "etl-hadoop",
        "cluster_uuid": "3f1b6a0e-52c4-4d8e-9a71-0c2f8e5d41b7",
    },
    "yarn-userlogs",
    {"compute.googleapis.com/resource_name": "etl-hadoop-w-1"},
    3,
    "dataproc",
)


def render_spark(line: LoghubLine, ns: int) -> Payload:
    message = {"message": line.content, "logger": line.component}
    return Payload(severity_of(line.level), "jsonPayload", message)


def render_zookeeper(line: LoghubLine, ns: int) -> Payload:
    when = _utc(ns)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S,") + f"{when.microsecond // 1000:03d}"
    where = f"{line.get('Node')}:{line.component}@{line.get('Id')}"
    text = f"{stamp} - {line.level:<5} [{where}] - {line.content}"
    return Payload(severity_of(line.level), "textPayload", text)


def render_hdfs(line: LoghubLine, ns: int) -> Payload:
    stamp = _utc(ns).strftime("%y%m%d %H%M%S")
    text = f"{stamp} {line.get('Pid')} {line.level} {line.component}: {line.content}"
    return Payload(severity_of(line.level), "textPayload", text)


def render_sshd(line: LoghubLine, ns: int) -> Payload:
    when = _utc(ns)
    stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
    text = f"{stamp} bastion-1 sshd[{line.get('Pid')}]: {line.content}"
    return Payload(sshd_severity(line.content), "textPayload", text)


def render_hadoop(line: LoghubLine, ns: int) -> Payload:
    message = {
        "application": "application_1445144423722_0020",
        "container": "container_1445144423722_0020_01_000001",
        "container_logname": "syslog",
        "class": line.component,
        "thread": line.get("Process"),
        "message": line.content,
    }
    return Payload(severity_of(line.level), "jsonPayload", message)
