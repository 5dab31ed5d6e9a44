"""Alert texts leave redacted: a secret in a finding never reaches Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from alerting.outbox import deliver_due
from alerting.slack import SlackNotifier
from pipeline.findings import Evidence, Finding
from pipeline.storage import Store, make_engine
from tests.alerting.conftest import WebhookStandIn
from tests.pipeline.test_storage import make_anomaly, record

PLANTED = ("hunter2-pass", "ops.lead@example.com", "10.20.30.40", "AKIAIOSFODNN7EXAMPLE")


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url))
    yield store
    store.close()


def test_a_secret_in_a_finding_never_reaches_slack(
    store: Store, webhook: WebhookStandIn
) -> None:
    leaky = Finding(
        "rules", "auth_failure", 0.9,
        "login failed: password=hunter2-pass user ops.lead@example.com from 10.20.30.40",
        Evidence(("e1",), ("tpl-1",), {"count": 7}),
    )
    second = replace(leaky, detector="error_share", summary="key AKIAIOSFODNN7EXAMPLE refused")
    anomaly = replace(make_anomaly("b1", "auth_failure"), summary=leaky.summary,
                      findings=(leaky, second))
    record(store, "b1", [anomaly], channels=["slack"])

    report = deliver_due(store, {"slack": SlackNotifier(webhook.url(), 2.0)})

    assert report.sent == 1
    [request] = webhook.requests
    body = json.dumps(request.payload)
    for secret in PLANTED:
        assert secret not in body
    # Slack escapes the markers: "<" arrives as "&lt;".
    assert "password=&lt;redacted&gt;" in body and "&lt;email&gt;" in body
    # Stored as found: Logwarden's own database keeps the evidence.
    assert store.anomalies()[0].summary == leaky.summary
