"""POST /pubsub/push over a real socket: token or Google OIDC token, enqueue into the real
Redis broker, dead letters, and 503 when the broker is gone."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from celery import Celery

from pipeline.batch import BatchLimits
from pipeline.storage import Store, make_engine
from tests.integration.fleet import FleetConfig, query, queued_batches
from tests.standins.google_oidc import CertsServer, OidcSigner
from workers.celery_app import make_app
from workers.push import PushReceiver, make_push_app
from workers.push_auth import OidcPolicy, PushAuth
from workers.tasks import batch_sender

pytestmark = pytest.mark.integration

TOKEN = "push-token-for-tests"
AUDIENCE = "https://logwarden.example.com/pubsub/push"
PUSHER = "pubsub-push@acme-fleet.iam.gserviceaccount.com"
ENTRY = {
    "insertId": "push-1",
    "timestamp": "2026-11-02T08:00:00.123Z",
    "severity": "ERROR",
    "textPayload": "upstream connect error: connection refused",
    "resource": {"type": "cloud_run_revision", "labels": {"service_name": "checkout"}},
    "logName": "projects/acme-fleet/logs/run.googleapis.com%2Fstderr",
}


def envelope(entry: dict[str, Any], message_id: str = "m-1") -> dict[str, Any]:
    data = base64.b64encode(json.dumps(entry).encode()).decode()
    return {
        "message": {
            "data": data,
            "messageId": message_id,
            "publishTime": "2026-11-02T08:00:01Z",
            "attributes": {},
        },
        "subscription": "projects/acme-fleet/subscriptions/push",
    }


@contextmanager
def serving(
    fleet: FleetConfig, app: Celery, auth: PushAuth | None = None
) -> Iterator[httpx.Client]:
    """The push app under uvicorn on a free loopback port, with a client for it."""
    store = Store(make_engine(fleet.database_url))
    limits = BatchLimits(max_entries=10, max_wait_s=0.2)
    receiver = PushReceiver(store, batch_sender(app), auth or PushAuth(TOKEN), limits)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves
    config = uvicorn.Config(make_push_app(receiver, tick_s=0.05), log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            client.get("/healthz")  # the first answer means it is serving
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
        sock.close()


@pytest.fixture
def client(fleet: FleetConfig) -> Iterator[httpx.Client]:
    app = fleet.app()
    with serving(fleet, app) as client:
        yield client
    app.close()


def test_without_the_token_nothing_is_taken(fleet: FleetConfig, client: httpx.Client) -> None:
    assert client.post("/pubsub/push", json=envelope(ENTRY)).status_code == 401
    wrong = client.post("/pubsub/push?token=guess", json=envelope(ENTRY))
    assert wrong.status_code == 401
    assert queued_batches(fleet) == []


def test_a_good_message_is_answered_once_it_is_in_the_detect_queue(
    fleet: FleetConfig, client: httpx.Client
) -> None:
    second = {**ENTRY, "insertId": "push-2"}
    assert client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY)).status_code == 204
    headers = {"Authorization": f"Bearer {TOKEN}"}
    reply = client.post("/pubsub/push", json=envelope(second, "m-2"), headers=headers)
    assert reply.status_code == 204
    queued = [e for batch in queued_batches(fleet) for e in batch.entries]
    assert sorted(e.insert_id for e in queued) == ["push-1", "push-2"]
    assert queued[0].message == ENTRY["textPayload"]
    assert queued[0].service == "checkout"


def test_a_malformed_envelope_is_dead_lettered_and_acked(
    fleet: FleetConfig, client: httpx.Client
) -> None:
    reply = client.post(f"/pubsub/push?token={TOKEN}", content=b'{"message": [1, 2')
    assert reply.status_code == 204
    bad_data = envelope(ENTRY, "m-3")
    bad_data["message"]["data"] = base64.b64encode(b'{"insertId": ').decode()
    assert client.post(f"/pubsub/push?token={TOKEN}", json=bad_data).status_code == 204
    rows = query(fleet.database_url, "SELECT reason, source FROM dead_letters ORDER BY reason")
    assert [row[0] for row in rows] == ["bad_envelope", "invalid_json"]
    assert rows[1][1] == "m-3"
    assert queued_batches(fleet) == []


def test_an_enqueue_failure_is_answered_503(fleet: FleetConfig) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    settings = fleet.settings().model_copy(update={"broker_url": f"redis://127.0.0.1:{port}/0"})
    app = make_app(settings)
    with serving(fleet, app) as client:
        reply = client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY))
    app.close()
    assert reply.status_code == 503
    assert queued_batches(fleet) == []


@pytest.fixture
def google() -> Iterator[tuple[OidcSigner, CertsServer]]:
    signer = OidcSigner("key-1")
    with CertsServer(signer) as certs:
        yield signer, certs


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_oidc_token_from_the_subscription_is_taken(
    fleet: FleetConfig, google: tuple[OidcSigner, CertsServer]
) -> None:
    signer, certs = google
    auth = PushAuth(oidc=OidcPolicy(AUDIENCE, PUSHER, certs.url))
    app = fleet.app()
    with serving(fleet, app, auth) as client:
        first = client.post("/pubsub/push", json=envelope(ENTRY),
                            headers=bearer(signer.token(AUDIENCE, PUSHER)))
        second = client.post("/pubsub/push", json=envelope({**ENTRY, "insertId": "push-2"}, "m-2"),
                             headers=bearer(signer.token(AUDIENCE, PUSHER)))
    app.close()
    assert (first.status_code, second.status_code) == (204, 204)
    assert certs.fetches == 1  # the certificates are kept, not fetched per message
    queued = [e.insert_id for batch in queued_batches(fleet) for e in batch.entries]
    assert sorted(queued) == ["push-1", "push-2"]


def test_oidc_tokens_that_are_not_ours_are_refused(
    fleet: FleetConfig, google: tuple[OidcSigner, CertsServer]
) -> None:
    signer, certs = google
    stranger = OidcSigner("key-1")  # same key id, another key: a forged signature
    auth = PushAuth(oidc=OidcPolicy(AUDIENCE, PUSHER, certs.url, clock_skew_s=0))
    refused = {
        "another audience": signer.token("https://elsewhere.example.com", PUSHER),
        "another account": signer.token(AUDIENCE, "intruder@evil.example.com"),
        "unverified email": signer.token(AUDIENCE, PUSHER, email_verified=False),
        "not Google": signer.token(AUDIENCE, PUSHER, iss="https://evil.example.com"),
        "expired": signer.token(AUDIENCE, PUSHER, lifetime_s=-60),
        "forged": stranger.token(AUDIENCE, PUSHER),
        "not a JWT": "not.a.jwt",
        "the shared token": TOKEN,  # none is configured here
    }
    app = fleet.app()
    with serving(fleet, app, auth) as client:
        answers = {
            why: client.post("/pubsub/push", json=envelope(ENTRY), headers=bearer(jwt)).status_code
            for why, jwt in refused.items()
        }
    app.close()
    assert answers == dict.fromkeys(refused, 401)
    assert queued_batches(fleet) == []


def test_push_auth_needs_a_token_or_an_audience() -> None:
    with pytest.raises(ValueError, match="shared token or an OIDC audience"):
        PushAuth()


def test_an_oversized_body_is_dead_lettered_and_the_endpoint_keeps_serving(
    fleet: FleetConfig, client: httpx.Client
) -> None:
    huge = envelope({**ENTRY, "textPayload": "x" * (8 * 1024 * 1024)}, "m-huge")
    assert client.post(f"/pubsub/push?token={TOKEN}", json=huge).status_code == 204
    assert client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY)).status_code == 204
    rows = query(fleet.database_url, "SELECT reason FROM dead_letters")
    assert [row[0] for row in rows] == ["oversized"]
    assert [e.insert_id for b in queued_batches(fleet) for e in b.entries] == ["push-1"]
