"""POST /pubsub/push over a real socket: token or Google OIDC token, answered 204 once a
real worker recorded the batch in Postgres, dead letters, and 503 when the broker is gone
or no record comes in time."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from celery import Celery

from pipeline.batch import BatchLimits
from pipeline.storage import Store, make_engine
from tests.integration.fleet import FleetConfig, WorkerProcess, ledger, query, queued_batches
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
    fleet: FleetConfig, app: Celery, auth: PushAuth | None = None, record_timeout_s: float = 30
) -> Iterator[httpx.Client]:
    """The push app under uvicorn on a free loopback port, with a client for it."""
    store = Store(make_engine(fleet.database_url))
    limits = BatchLimits(max_entries=10, max_wait_s=0.2)
    receiver = PushReceiver(store, batch_sender(app), auth or PushAuth(TOKEN), limits,
                            record_timeout_s)
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


def outcomes(fleet: FleetConfig) -> list[tuple[str, str, str]]:
    """(delivery, outcome, stream) of every entry recorded, by delivery."""
    return [tuple(row) for row in query(
        fleet.database_url,
        "SELECT o.delivery_id, o.outcome, b.stream FROM entry_outcomes o "
        "JOIN processed_batches b USING (batch_id) ORDER BY o.delivery_id",
    )]


STREAM = "acme-fleet/cloud_run_revision/checkout"


@pytest.fixture
def client(fleet: FleetConfig) -> Iterator[httpx.Client]:
    """The endpoint, with no worker: for what is answered without a record."""
    app = fleet.app()
    with serving(fleet, app) as client:
        yield client
    app.close()


@pytest.fixture
def recorded_client(
    fleet: FleetConfig, start_worker: Callable[[str], WorkerProcess]
) -> Iterator[httpx.Client]:
    """The endpoint and a worker recording its batches."""
    start_worker("w1")
    app = fleet.app()
    with serving(fleet, app) as client:
        yield client
    app.close()


def test_without_the_token_nothing_is_taken(fleet: FleetConfig, client: httpx.Client) -> None:
    assert client.post("/pubsub/push", json=envelope(ENTRY)).status_code == 401
    wrong = client.post("/pubsub/push?token=guess", json=envelope(ENTRY))
    assert wrong.status_code == 401
    assert queued_batches(fleet) == []


def test_a_good_message_is_answered_once_it_is_recorded(
    fleet: FleetConfig, recorded_client: httpx.Client
) -> None:
    client = recorded_client
    second = {**ENTRY, "insertId": "push-2"}
    assert client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY)).status_code == 204
    headers = {"Authorization": f"Bearer {TOKEN}"}
    reply = client.post("/pubsub/push", json=envelope(second, "m-2"), headers=headers)
    assert reply.status_code == 204
    assert outcomes(fleet) == [("m-1", "processed", STREAM), ("m-2", "processed", STREAM)]
    (template,) = query(fleet.database_url, "SELECT text FROM templates")
    assert "connection refused" in template[0]


def test_a_second_copy_alone_in_its_batch_is_counted_as_a_duplicate(
    fleet: FleetConfig, recorded_client: httpx.Client
) -> None:
    client = recorded_client
    for message_id in ("m-1", "m-2"):  # one at a time: each copy makes a batch of its own
        reply = client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY, message_id))
        assert reply.status_code == 204
    assert outcomes(fleet) == [("m-1", "processed", STREAM), ("m-2", "duplicate", STREAM)]
    # Pub/Sub delivering m-2 again: the same batch, recorded already, counts nothing more.
    again = client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY, "m-2"))
    assert again.status_code == 204
    assert len(outcomes(fleet)) == 2
    assert ledger(fleet.database_url) == (2, 2, 1, 1)  # batches, entries, processed, duplicates


def test_no_record_in_time_is_answered_503_for_pubsub_to_retry(fleet: FleetConfig) -> None:
    app = fleet.app()  # and no worker: the batch waits in the broker
    with serving(fleet, app, record_timeout_s=1.0) as client:
        started = time.monotonic()
        reply = client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY))
        waited = time.monotonic() - started
    app.close()
    assert reply.status_code == 503
    assert 1.0 <= waited < 5.0
    assert [e.insert_id for b in queued_batches(fleet) for e in b.entries] == ["push-1"]


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
    fleet: FleetConfig, google: tuple[OidcSigner, CertsServer],
    start_worker: Callable[[str], WorkerProcess],
) -> None:
    signer, certs = google
    start_worker("w1")
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
    assert [row[0] for row in outcomes(fleet)] == ["m-1", "m-2"]


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
    fleet: FleetConfig, recorded_client: httpx.Client
) -> None:
    client = recorded_client
    huge = envelope({**ENTRY, "textPayload": "x" * (8 * 1024 * 1024)}, "m-huge")
    assert client.post(f"/pubsub/push?token={TOKEN}", json=huge).status_code == 204
    assert client.post(f"/pubsub/push?token={TOKEN}", json=envelope(ENTRY)).status_code == 204
    rows = query(fleet.database_url, "SELECT reason FROM dead_letters")
    assert [row[0] for row in rows] == ["oversized"]
    assert outcomes(fleet) == [("m-1", "processed", STREAM)]
