"""The outbox's message: old payloads still read, new fields survive the JSON round trip."""

from __future__ import annotations

import json

from alerting.alert import AlertMessage, MessageKind
from alerting.notifier import delivered
from pipeline.anomaly import AnomalySeverity
from tests.alerting.factory import alert_message

OLD_PAYLOAD: dict[str, object] = {  # as the outbox stored it before incidents
    "alert_id": "alert-1", "fingerprint": "fp", "title": "error burst in checkout",
    "severity": "warning", "stream": "acme/k8s_container/checkout",
    "anomaly_type": "error_burst", "summary": "Errors rose.", "details": ["a", "b"],
    "first_seen": "2026-11-03T09:14:00Z", "anomaly_count": 1, "review": "not reviewed",
    "follow_up": False,
}


def test_an_old_payload_reads_as_a_first_firing_message() -> None:
    message = AlertMessage.from_payload(OLD_PAYLOAD)
    assert message.kind == MessageKind.FIRING and not message.follow_up
    assert (message.revision, message.thread_ref, message.samples) == (1, None, ())
    assert message.severity is AnomalySeverity.WARNING and message.details == ("a", "b")


def test_an_old_follow_up_reads_as_a_review() -> None:
    message = AlertMessage.from_payload({**OLD_PAYLOAD, "follow_up": True})
    assert message.kind == MessageKind.REVIEW and message.follow_up


def test_a_new_payload_survives_json_both_ways() -> None:
    message = alert_message(
        kind="update", revision=3, service="checkout", project="acme-prod",
        anomaly_types=("error_burst", "new_template"),
        window_start="2026-11-03T09:14:00Z", window_end="2026-11-03T09:20:00Z",
        samples=("ERROR db timeout user=<email>",),
        links=(("Logs Explorer", "https://console.cloud.google.com/logs/query"),),
        actions=("logwarden ack alert-7f3a",), labels=(("team", "payments"),),
        thread_ref="C0123:1700000000.000100",
    )
    payload = json.loads(json.dumps(message.to_payload()))
    assert payload["follow_up"] is True  # older readers still tell a page from a reply
    assert AlertMessage.from_payload(payload) == message


def test_labels_and_links_may_come_as_json_objects() -> None:
    payload = {**OLD_PAYLOAD, "labels": {"team": "payments"}, "links": {"Runbook": "https://r"}}
    message = AlertMessage.from_payload(payload)
    assert message.labels == (("team", "payments"),)
    assert message.links == (("Runbook", "https://r"),)


def test_a_delivery_carries_the_thread_it_started() -> None:
    assert delivered().thread_ref is None
    assert delivered(thread_ref="C1:17.5").thread_ref == "C1:17.5"
