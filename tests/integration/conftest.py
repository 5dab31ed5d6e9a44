"""Fixtures for fleet tests: a migrated throwaway database, a Redis namespace, the Pub/Sub
stand-in with a topic and subscription, and workers that are always cleaned up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

import migrations
from tests.integration.fleet import FleetConfig, WorkerProcess
from tests.standins.pubsub import PubSubStandIn

TOPIC = "projects/acme-fleet/topics/logs"
SUBSCRIPTION = "projects/acme-fleet/subscriptions/logwarden"


@pytest.fixture
def fleet(pg_url: str, tmp_path: Path) -> Iterator[FleetConfig]:
    """A fleet's database (at head) and Redis namespace; both gone afterwards."""
    migrations.upgrade(pg_url)
    config = FleetConfig(pg_url, f"lwtest-{uuid.uuid4().hex[:12]}:", tmp_path)
    yield config
    config.drop_redis_keys()


@pytest.fixture
def start_worker(fleet: FleetConfig) -> Iterator[Callable[[str], WorkerProcess]]:
    """Starts named worker processes and waits until each answers; stops them all after."""
    started: list[WorkerProcess] = []
    app = fleet.app()

    def start(name: str) -> WorkerProcess:
        worker = WorkerProcess(fleet, name)
        started.append(worker)
        worker.wait_ready(app)
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.close()


@pytest.fixture
def pubsub(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PubSubStandIn]:
    """The stand-in with TOPIC and SUBSCRIPTION; real clients built now talk to it.

    Parametrize it indirectly with PubSubStandIn's keywords (e.g. `max_ack_deadline`).
    """
    options = {"max_workers": 8, "chunk_size": 200, **getattr(request, "param", {})}
    with PubSubStandIn(**options) as server:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", server.host)
        with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as admin:
            publisher.create_topic(name=TOPIC)
            admin.create_subscription(name=SUBSCRIPTION, topic=TOPIC, ack_deadline_seconds=60)
        yield server


@pytest.fixture
def publisher(pubsub: PubSubStandIn) -> Iterator[pubsub_v1.PublisherClient]:
    client = pubsub_v1.PublisherClient()
    yield client
    client.stop()
