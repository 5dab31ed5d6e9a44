"""Incidents posted to the real Alertmanager: labels and annotations arrive, a grown
severity leaves one alert, the resolved post ends it, its silences and routes apply."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from alerting.alert import AlertMessage
from alerting.alertmanager import AlertmanagerNotifier, alertmanager_alerts
from alerting.notifier import DeliveryResult
from tests.alerting.alertmanager_server import AlertmanagerServer, wait_for
from tests.alerting.conftest import WebhookStandIn
from tests.alerting.factory import alert_message

LINKS = (("Logs Explorer", "https://console.cloud.google.com/logs/query;query=checkout"),
         ("Runbook", "https://runbooks.acme.test/checkout"))


@pytest.fixture(scope="module")
def notified() -> Iterator[WebhookStandIn]:
    """Where Alertmanager's own notifications go."""
    stand_in = WebhookStandIn()
    thread = threading.Thread(target=stand_in.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory,
                 notified: WebhookStandIn) -> Iterator[AlertmanagerServer]:
    notify_url = f"http://127.0.0.1:{notified.server.server_port}/alertmanager"
    with AlertmanagerServer(tmp_path_factory.mktemp("alertmanager"), notify_url) as server:
        yield server


def incident(incident_id: str, **changes: object) -> AlertMessage:
    fields: dict[str, object] = {"service": "checkout", "project": "acme-prod", "links": LINKS,
                                 "samples": ("ERROR db timeout",), **changes}
    return alert_message(alert_id=incident_id, **fields)


def post(server: AlertmanagerServer, message: AlertMessage) -> DeliveryResult:
    return AlertmanagerNotifier(server.url, 5.0).send(message)


def test_a_firing_incident_arrives_with_its_labels_and_annotations(
    alertmanager: AlertmanagerServer,
) -> None:
    assert post(alertmanager, incident("inc-labels")) == DeliveryResult(True, False)
    [alert] = alertmanager.alerts(incident="inc-labels")
    assert alert["labels"] == {
        "alertname": "LogwardenIncident", "incident": "inc-labels", "service": "checkout",
        "stream": "acme-prod/k8s_container/checkout", "project": "acme-prod",
        "anomaly_type": "error_burst", "severity": "critical",
    }
    notes = alert["annotations"]
    assert notes["summary"] == "Errors jumped from 2% to 41% of checkout's entries in one minute."
    assert "ERROR db timeout" in notes["description"] and "error_share" in notes["description"]
    assert notes["runbook_url"] == "https://runbooks.acme.test/checkout"
    assert "Logs Explorer: https://console.cloud.google.com" in notes["links"]
    assert alert["generatorURL"] == LINKS[0][1]
    assert alert["status"]["state"] == "active"
    ends = datetime.fromisoformat(alert["endsAt"])
    assert ends > datetime.now(UTC) + timedelta(hours=23)  # kept alive until the next post


def test_a_grown_incident_stays_one_alert_and_the_resolved_post_ends_it(
    alertmanager: AlertmanagerServer,
) -> None:
    def labels() -> list[tuple[str, str, str]]:
        return [(a["labels"]["severity"], a["labels"]["anomaly_type"],
                 a["annotations"]["kind"]) for a in alertmanager.alerts(incident="inc-grows")]

    firing = (("state", "firing"), ("group_key", "acme-prod/checkout"))
    assert post(alertmanager, incident("inc-grows", severity="warning", labels=firing,
                                       anomaly_types=("error_burst",))).ok
    assert labels() == [("warning", "error_burst", "firing")]
    # It grows: a critical anomaly of another type leads it now.
    grown = incident("inc-grows", kind="update", revision=2, anomaly_type="crash_loop",
                     anomaly_types=("error_burst", "crash_loop"), labels=firing)
    assert post(alertmanager, grown).ok and post(alertmanager, grown).ok  # a re-post
    assert labels() == [("critical", "crash_loop", "update")]
    acked = (("state", "acknowledged"), ("group_key", "acme-prod/checkout"),
             ("acknowledged_by", "ana"))
    assert post(alertmanager, incident("inc-grows", kind="acknowledged", revision=3,
                                       anomaly_type="crash_loop", labels=acked,
                                       anomaly_types=("error_burst", "crash_loop"))).ok
    [alert] = alertmanager.alerts(incident="inc-grows")
    assert alert["labels"]["group_key"] == "acme-prod/checkout"
    assert alert["annotations"]["acknowledged_by"] == "ana"
    assert alert["annotations"]["state"] == "acknowledged"
    assert "state" not in alert["labels"]
    resolved_at = datetime.now(UTC).isoformat()
    done = (("state", "resolved"), ("group_key", "acme-prod/checkout"))
    assert post(alertmanager, incident("inc-grows", kind="resolved", revision=4, labels=done,
                                       anomaly_type="crash_loop", resolved_at=resolved_at,
                                       anomaly_types=("error_burst", "crash_loop"))).ok
    assert alertmanager.alerts(incident="inc-grows") == []


def test_an_alertmanager_silence_applies(alertmanager: AlertmanagerServer) -> None:
    silence_id = alertmanager.silence("oncall@acme.test", "deploying checkout",
                                      service="payments")
    assert post(alertmanager, incident("inc-silenced", service="payments")).ok
    [alert] = alertmanager.alerts(incident="inc-silenced")
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence_id]


def test_its_routes_notify_firing_then_resolved(alertmanager: AlertmanagerServer,
                                                notified: WebhookStandIn) -> None:
    def statuses() -> list[str]:
        return [r.payload["status"] for r in notified.requests
                if r.payload["groupLabels"].get("incident") == "inc-routed"]

    assert post(alertmanager, incident("inc-routed")).ok
    wait_for(lambda: "firing" in statuses(), 15, "Alertmanager's firing notification")
    assert post(alertmanager, incident("inc-routed", kind="resolved", revision=2)).ok
    wait_for(lambda: "resolved" in statuses(), 15, "Alertmanager's resolved notification")
    [firing] = [r.payload for r in notified.requests if r.payload["status"] == "firing"
                and r.payload["groupLabels"].get("incident") == "inc-routed"]
    assert firing["alerts"][0]["labels"]["service"] == "checkout"


def test_an_unreachable_alertmanager_is_retryable_and_a_refusal_final(
    alertmanager: AlertmanagerServer, closed_port: int,
) -> None:
    down = AlertmanagerNotifier(f"http://127.0.0.1:{closed_port}", 1.0).send(incident("x"))
    assert (down.ok, down.retryable) == (False, True)
    wrong_path = AlertmanagerNotifier(alertmanager.url + "/nowhere", 5.0).send(incident("x"))
    assert (wrong_path.ok, wrong_path.retryable) == (False, False)


def test_a_resolved_time_before_the_start_is_clamped_so_the_post_is_valid() -> None:
    now = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    message = incident("inc-clamp", kind="resolved", first_seen="2026-11-03T09:30:00Z",
                       resolved_at="2026-11-03T09:00:00Z")
    for alert in alertmanager_alerts(message, now):
        assert str(alert["startsAt"]) <= str(alert["endsAt"])
