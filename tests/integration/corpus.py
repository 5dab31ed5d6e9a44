"""A log sink's worth of Pub/Sub messages: five services, a brute-force incident on the
bastion host, about 1 % malformed messages and 1 % entries delivered twice.

Deterministic for a seed; the truth (counts, the incident) comes with the messages.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

PROJECT = "acme-fleet"
TIMESTAMP_ATTRIBUTE = "logging.googleapis.com/timestamp"
MINUTE_NS = 60 * 10**9
INCIDENT_SERVICE = "bastion"
INCIDENT_TYPE = "auth_failure"
ATTACKER = "183.62.140.253"


@dataclass(frozen=True, slots=True)
class Message:
    data: bytes
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Corpus:
    messages: tuple[Message, ...]
    unique_valid: int  # distinct insert ids among well-formed entries
    duplicates: int  # well-formed messages whose insert id came before
    malformed: int
    incident_start_ns: int
    incident_end_ns: int

    @property
    def published(self) -> int:
        return len(self.messages)


Line = Callable[[random.Random], str]


def _ip(rng: random.Random) -> str:
    return f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}"


def _bastion(rng: random.Random) -> str:
    port = rng.randint(30000, 65000)
    return rng.choice(
        [
            f"Accepted publickey for deploy from {_ip(rng)} port {port} ssh2: RSA SHA256:"
            f"{rng.getrandbits(64):016x}",
            f"pam_unix(sshd:session): session opened for user deploy by (uid={rng.randint(0, 9)})",
            f"Received disconnect from {_ip(rng)} port {port}:11: disconnected by user",
            f"Connection closed by {_ip(rng)} port {port} [preauth]",
        ]
    )


def _attack(rng: random.Random) -> str:
    port = rng.randint(30000, 65000)
    user = rng.choice(["root", "admin", "oracle", "test", "ubuntu"])
    return rng.choice(
        [
            f"Failed password for {user} from {ATTACKER} port {port} ssh2",
            f"Invalid user {user} from {ATTACKER} port {port}",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            f"rhost={ATTACKER}  user={user}",
        ]
    )


def _inventory(rng: random.Random) -> str:
    return rng.choice(
        [
            f"Fetched {rng.randint(1, 60)} items for warehouse eu-{rng.randint(1, 6)} in "
            f"{rng.randint(3, 90)} ms",
            f"Cache refresh completed: {rng.randint(900, 2000)} keys in {rng.randint(40, 400)} ms",
            f"Reserved {rng.randint(1, 5)} units of SKU-{rng.randint(10000, 99999)} for order "
            f"ORD-{rng.randint(100000, 999999)}",
            f"HikariPool-1 - Pool stats (total={rng.randint(8, 10)}, active={rng.randint(0, 8)}, "
            f"idle={rng.randint(0, 8)}, waiting=0)",
        ]
    )


def _orders(rng: random.Random) -> str:
    order = f"ORD-{rng.randint(100000, 999999)}"
    return rng.choice(
        [
            f"Processed order {order} for customer {rng.randint(1000, 9999)} "
            f"total={rng.randint(5, 400)}.{rng.randint(0, 99):02d} EUR",
            f"Published event order.created id={rng.getrandbits(48):012x} order={order}",
            f"Payment authorised for {order} via card ending {rng.randint(1000, 9999)}",
            f"Shipment label created for {order} carrier=DHL tracking={rng.randint(10**9, 10**10)}",
        ]
    )


def _checkout(rng: random.Random) -> str:
    return rng.choice(
        [
            f"GET /api/cart/{rng.randint(1000, 99999)} served",
            "POST /api/checkout served",
            f"GET /api/products?page={rng.randint(1, 40)} served",
        ]
    )


def _payments(rng: random.Random) -> str:
    return rng.choice(
        [
            f"Charge ch_{rng.getrandbits(40):010x} succeeded amount={rng.randint(100, 40000)} "
            "currency=eur",
            f"Refund re_{rng.getrandbits(40):010x} created for charge "
            f"ch_{rng.getrandbits(40):010x}",
            f"Webhook evt_{rng.getrandbits(40):010x} delivered in {rng.randint(20, 300)} ms",
        ]
    )


# service -> (resource type, payload kind, entries per minute, line maker)
SERVICES: dict[str, tuple[str, str, int, Line]] = {
    INCIDENT_SERVICE: ("gce_instance", "text", 24, _bastion),
    "inventory": ("k8s_container", "text", 120, _inventory),
    "orders-worker": ("k8s_container", "json", 120, _orders),
    "checkout": ("cloud_run_revision", "http", 120, _checkout),
    "payments": ("cloud_run_revision", "text", 90, _payments),
}


def _rfc3339(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{rest:09d}Z"


def _resource(service: str, resource_type: str) -> dict[str, object]:
    labels = {"project_id": PROJECT}
    if resource_type == "gce_instance":
        labels |= {"instance_id": "5316204932283415071", "zone": "europe-west1-b"}
    elif resource_type == "k8s_container":
        labels |= {
            "cluster_name": "prod-1",
            "namespace_name": "shop",
            "container_name": service,
            "pod_name": f"{service}-7c9f6d5b8-4xkqz",
        }
    else:
        labels |= {"service_name": service, "revision_name": f"{service}-00042-vup"}
    return {"type": resource_type, "labels": labels}


def _entry(rng: random.Random, service: str, ns: int, text: str) -> dict[str, object]:
    resource_type, kind, _, _ = SERVICES[service]
    entry: dict[str, object] = {
        "insertId": f"{rng.getrandbits(64):016x}",
        "timestamp": _rfc3339(ns),
        "receiveTimestamp": _rfc3339(ns + rng.randint(10**8, 9 * 10**8)),
        "severity": "INFO",
        "logName": f"projects/{PROJECT}/logs/{'syslog' if kind == 'text' else 'stdout'}",
        "resource": _resource(service, resource_type),
        "labels": {"compute.googleapis.com/resource_name": service},
    }
    if kind == "json":
        entry["jsonPayload"] = {"message": text, "logger": f"{service}.handler"}
    elif kind == "http":
        method, path = text.split()[:2]
        entry["jsonPayload"] = {"message": text}
        entry["httpRequest"] = {
            "requestMethod": method,
            "requestUrl": f"https://shop.example.com{path}",
            "status": 200 if rng.random() > 0.01 else 404,
            "latency": f"0.{rng.randint(5, 400):03d}s",
            "responseSize": str(rng.randint(200, 9000)),
        }
    else:
        entry["textPayload"] = text
    return entry


def _malformed(rng: random.Random, good: bytes) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return good[: len(good) // 2]  # truncated JSON
    if kind == 1:
        return good.replace(b'Payload":', b'Payload":"\xff\xfe","x":', 1)  # invalid UTF-8
    if kind == 2:
        return json.dumps(["not", "an", "entry", rng.random()]).encode()
    entry = json.loads(good)
    if kind == 3:
        entry["timestamp"] = f"yesterday at {rng.randint(1, 12)}"
    else:
        entry["severity"] = {"level": "LOUD"}
    return json.dumps(entry).encode()


def build_corpus(seed: int, start_ns: int, minutes: int = 20) -> Corpus:
    """Messages in about the order a sink publishes them; the incident fills minutes 6-10."""
    rng = random.Random(seed)
    incident = (start_ns + 6 * MINUTE_NS, start_ns + 10 * MINUTE_NS)
    timeline: list[tuple[int, str, str]] = []
    for service, (_, _, per_minute, line) in SERVICES.items():
        for _ in range(per_minute * minutes):
            timeline.append((start_ns + rng.randrange(minutes * MINUTE_NS), service, line(rng)))
    for _ in range(600):
        ns = incident[0] + rng.randrange(incident[1] - incident[0])
        timeline.append((ns, INCIDENT_SERVICE, _attack(rng)))
    timeline.sort()
    messages: list[Message] = []
    sent: list[Message] = []
    malformed = duplicates = 0
    for ns, service, text in timeline:
        data = json.dumps(_entry(rng, service, ns, text)).encode()
        message = Message(data, {TIMESTAMP_ATTRIBUTE: _rfc3339(ns)})
        messages.append(message)
        sent.append(message)
        if rng.random() < 0.01:  # the sink delivers an entry again, a little later
            messages.append(sent[-rng.randint(1, min(len(sent), 50))])
            duplicates += 1
        if rng.random() < 0.01:
            messages.append(Message(_malformed(rng, data), message.attributes))
            malformed += 1
    return Corpus(tuple(messages), len(timeline), duplicates, malformed, *incident)
