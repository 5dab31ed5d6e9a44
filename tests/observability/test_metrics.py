"""Metrics on a fresh registry: declared once, with help text, and bounded labels."""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from observability.labels import InvalidLabelValue, Labelled, ServiceNames
from observability.metrics import CHANNEL, END_TO_END_BUCKETS, Metrics, observe_many
from tests.observability.declared import child, declared_metrics, example_labels

# The metrics the fleet's rules, dashboards and runbooks rely on, with their labels.
EXPECTED = {
    "logwarden_entries_received_total": {"source"},
    "logwarden_entries_processed_total": {"service"},
    "logwarden_entries_duplicate_total": set(),
    "logwarden_entries_redelivered_total": set(),
    "logwarden_dead_letters_total": {"reason"},
    "logwarden_batches_total": {"outcome"},
    "logwarden_batch_entries": set(),
    "logwarden_batch_seconds": {"stage"},
    "logwarden_detector_findings_total": {"detector"},
    "logwarden_anomalies_total": {"anomaly_type", "severity", "service"},
    "logwarden_changes_total": {"kind", "service"},
    "logwarden_alerts_total": {"severity"},
    "logwarden_incidents_total": {"event"},
    "logwarden_incidents_open": {"severity", "state"},
    "logwarden_silences_active": set(),
    "logwarden_deliveries_total": {"channel", "status"},
    "logwarden_delivery_seconds": {"channel"},
    "logwarden_templates": set(),
    "logwarden_ingest_lag_seconds": {"source"},
    "logwarden_ingest_open_batch_entries": set(),
    "logwarden_ingest_flow_paused": set(),
    "logwarden_queue_depth": {"queue"},
    "logwarden_llm_requests_total": {"outcome"},
    "logwarden_llm_tokens_total": {"kind"},
    "logwarden_task_retries_total": {"task"},
    "logwarden_llm_cost_usd_total": set(),
    "logwarden_llm_request_seconds": set(),
    "logwarden_worker_processes": set(),
    "logwarden_end_to_end_seconds": set(),
}
FREE_TEXT = [
    "Connection refused by 10.0.0.7:5432",
    "https://hooks.slack.com/services/T000/B000/XXXX",
    "someone@example.com",
    "disk full",
    "ERROR",
    "",
    "/api/users/42",
    "x" * 65,
]


class Reason(StrEnum):
    INVALID_JSON = "invalid_json"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def exposed_name(metric: Any) -> str:
    base = metric.metric if isinstance(metric, Labelled) else metric
    suffix = "_total" if isinstance(base, Counter) else ""
    return f"{base.describe()[0].name}{suffix}"


def test_the_expected_metrics_are_declared_with_their_labels(metrics: Metrics) -> None:
    declared = {
        exposed_name(metric): {label.name for label in getattr(metric, "declared", ())}
        for metric in declared_metrics(metrics).values()
    }
    assert declared == EXPECTED


def test_attributes_are_named_after_the_exposed_metrics(metrics: Metrics) -> None:
    for attribute, metric in declared_metrics(metrics).items():
        assert exposed_name(metric) == f"logwarden_{attribute}"


@pytest.mark.parametrize("attribute", sorted(name.removeprefix("logwarden_") for name in EXPECTED))
def test_each_metric_moves_and_is_exposed_with_its_help(
    registry: CollectorRegistry, metrics: Metrics, attribute: str
) -> None:
    metric, labels = child(getattr(metrics, attribute))
    name = f"logwarden_{attribute}"
    if isinstance(metric, Counter):
        metric.inc(3)
        assert registry.get_sample_value(name, labels) == 3
    elif isinstance(metric, Gauge):
        metric.set(7)
        assert registry.get_sample_value(name, labels) == 7
    else:
        assert isinstance(metric, Histogram)
        metric.observe(0.3)
        assert registry.get_sample_value(f"{name}_count", labels) == 1
        assert registry.get_sample_value(f"{name}_sum", labels) == pytest.approx(0.3)
    help_lines = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith(f"# HELP {name} ")
    ]
    assert len(help_lines) == 1
    assert len(help_lines[0]) > len(f"# HELP {name} ") + 10  # a sentence, not a stub


def test_no_label_takes_free_text(metrics: Metrics) -> None:
    labelled = [m for m in declared_metrics(metrics).values() if isinstance(m, Labelled)]
    assert labelled
    for metric in labelled:
        for label in metric.declared:
            for text in FREE_TEXT:
                labels = {**example_labels(metric), label.name: text}
                with pytest.raises(InvalidLabelValue):
                    metric.labels(**labels)


@pytest.mark.parametrize(
    "detector", ["volume", "http/5xx", "rules/out-of-memory", "learned", "rules/disk.full"]
)
def test_code_made_names_are_accepted(
    registry: CollectorRegistry, metrics: Metrics, detector: str
) -> None:
    metrics.detector_findings_total.labels(detector=detector).inc()
    assert registry.get_sample_value("logwarden_detector_findings_total", {"detector": detector})


def test_string_enums_are_label_values(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.dead_letters_total.labels(reason=Reason.INVALID_JSON).inc()
    sample = registry.get_sample_value("logwarden_dead_letters_total", {"reason": "invalid_json"})
    assert sample == 1


def test_closed_sets_reject_other_values_and_wrong_names(metrics: Metrics) -> None:
    with pytest.raises(InvalidLabelValue):
        metrics.entries_received_total.labels(source="kafka")
    with pytest.raises(InvalidLabelValue):
        metrics.entries_received_total.labels(sources="file")
    with pytest.raises(InvalidLabelValue):
        metrics.deliveries_total.labels(channel="slack")


def test_a_child_asked_for_again_is_the_metrics_own_and_a_bad_value_fails_each_time(
    metrics: Metrics,
) -> None:
    changes = metrics.changes_total
    for _ in range(2):
        for kind, service in (("deploy", "checkout"), ("config", "checkout"), ("deploy", "cart")):
            child = changes.metric.labels(kind, service)
            assert changes.labels(kind=kind, service=service) is child
            assert changes.labels(service=service, kind=kind) is child
        for _ in range(2):
            with pytest.raises(InvalidLabelValue):
                changes.labels(kind="rollout", service="checkout")
            with pytest.raises(InvalidLabelValue):
                changes.labels(kind="deploy", service="Not A Name")
    reason = metrics.dead_letters_total
    assert reason.labels(reason=Reason.INVALID_JSON) is reason.labels(reason="invalid_json")


def test_closed_label_sets_are_exposed_at_zero_before_any_event(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    for outcome in ("processed", "already_recorded", "failed"):
        assert registry.get_sample_value("logwarden_batches_total", {"outcome": outcome}) == 0
    for source in ("pubsub", "push", "file"):
        labels = {"source": source}
        assert registry.get_sample_value("logwarden_entries_received_total", labels) == 0


def test_every_receiver_kind_has_its_delivery_series_at_zero_from_the_start(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    from alerting.receivers import KINDS

    assert set(CHANNEL.values) == {*KINDS, "other"}
    for kind in CHANNEL.values:
        for status in ("sent", "retrying", "failed", "unrecorded"):
            labels = {"channel": kind, "status": status}
            assert registry.get_sample_value("logwarden_deliveries_total", labels) == 0


def test_two_registries_do_not_share_values() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(first).entries_duplicate_total.inc(5)
    Metrics(second)
    assert first.get_sample_value("logwarden_entries_duplicate_total") == 5
    assert second.get_sample_value("logwarden_entries_duplicate_total") == 0


@pytest.mark.parametrize(("service", "label"), [
    ("checkout", "checkout"),
    ("Orders API", "orders_api"),
    ("--payments--", "payments"),
    ("", "unknown"),
    ("ä" * 3, "unknown"),
    ("x" * 90, "x" * 64),
])
def test_service_names_are_shaped_into_label_values(
    metrics: Metrics, service: str, label: str
) -> None:
    assert metrics.service(service) == label
    metrics.anomalies_total.labels(anomaly_type="volume", severity="info",
                                   service=metrics.service(service)).inc()


def test_service_names_past_the_limit_all_count_as_other() -> None:
    services = ServiceNames(limit=3)
    assert [services(f"svc-{i}") for i in range(5)] == ["svc-0", "svc-1", "svc-2", "other", "other"]
    assert services("svc-1") == "svc-1"  # one seen before stays itself


def test_a_service_asked_for_again_gets_the_value_it_got_and_the_names_kept_are_bounded() -> None:
    rng = random.Random(1)
    names = [f"{rng.choice(['Svc', 'svc', 'SVC-'])}{rng.randrange(40)}" for _ in range(3000)]
    services, shaped = ServiceNames(limit=10), ServiceNames(limit=10)
    got = [services(name) for name in names]
    assert got == [shaped._value(name) for name in names]  # each shaped afresh
    assert "other" in got and len(services._given) <= 40


def test_every_task_the_workers_run_has_its_own_retry_series(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    from workers import tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import make_app
    from workers.settings import Settings

    ours = {name for name in make_app(Settings()).tasks if name.startswith("logwarden.")}
    assert ours and {metrics.task(name) for name in ours} == ours
    assert metrics.task("celery.backend_cleanup") == "other"
    for task in (*ours, "other"):  # at zero before the first retry, so rate() sees them
        assert registry.get_sample_value("logwarden_task_retries_total", {"task": task}) == 0


def test_observing_many_at_once_exposes_what_observing_each_does() -> None:
    # On the bounds, between them, past the last and at zero: each lands where `observe`
    # puts it.
    amounts = [0.0, 0.3, 1.0, 1.0000001, 2.5, 299.0, 300.0, 7200.0, 7200.0]
    exposed = []
    for bulk in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("lag", "Lag.", ["source"], registry=registry,
                              buckets=END_TO_END_BUCKETS).labels(source="pubsub")
        if bulk:
            observe_many(histogram, amounts)
            observe_many(histogram, [])
        else:
            for amount in amounts:
                histogram.observe(amount)
        lines = generate_latest(registry).decode().splitlines()
        exposed.append("\n".join(line for line in lines if "_created" not in line))
    assert exposed[0] == exposed[1]
    assert 'lag_bucket{le="1.0",source="pubsub"} 3.0' in exposed[1]
    assert 'lag_count{source="pubsub"} 9.0' in exposed[1]
