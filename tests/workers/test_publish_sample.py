"""The compose stack's replayer, `python -m workers.publish_sample`, as a real process
against the Pub/Sub stand-in: it publishes the bundled sample's lines as they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from tests.standins.pubsub import PubSubStandIn
from workers.publish_sample import sample_lines
from workers.sample import sample_path

REPO = Path(__file__).resolve().parents[2]
TOPIC = "projects/logwarden-local/topics/logs"
SUBSCRIPTION = "projects/logwarden-local/subscriptions/logwarden"
LIMIT = 40


def test_it_publishes_the_first_lines_of_the_sample_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with PubSubStandIn() as server:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", server.host)
        with pubsub_v1.PublisherClient() as publisher, pubsub_v1.SubscriberClient() as subscriber:
            publisher.create_topic(name=TOPIC)
            subscriber.create_subscription(name=SUBSCRIPTION, topic=TOPIC)
            result = subprocess.run(
                [sys.executable, "-m", "workers.publish_sample", "--topic", TOPIC,
                 "--limit", str(LIMIT)],
                cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120,
                check=False)
            assert result.returncode == 0, result.stderr
            assert f"published {LIMIT} log entries" in result.stderr
            pulled = subscriber.pull(subscription=SUBSCRIPTION, max_messages=1000, timeout=30)
    expected = list(sample_lines(sample_path(), LIMIT))
    assert len(expected) == LIMIT
    assert sorted(m.message.data for m in pulled.received_messages) == sorted(expected)
