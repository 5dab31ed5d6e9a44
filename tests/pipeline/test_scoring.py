"""Scoring: findings become one anomaly per type, with a severity, through sensitivity."""

from __future__ import annotations

import pytest

from pipeline.anomaly import AnomalySeverity
from pipeline.batch import Batch
from pipeline.entry import StreamKey
from pipeline.findings import Evidence, Finding
from pipeline.scoring import ScoringPolicy, combine, score_batch
from tests.pipeline.detectors.factory import STREAM, entry


def finding(detector: str, anomaly_type: str, score: float, template: str = "") -> Finding:
    templates = (template,) if template else ()
    return Finding(detector, anomaly_type, score, f"{detector} says {score}",
                   Evidence(template_ids=templates))


def batch(stream: StreamKey = STREAM) -> Batch:
    return Batch(stream, (entry("connection refused", n=1),))


def test_independent_evidence_adds_up_but_never_past_one() -> None:
    assert combine([0.5, 0.5]) == pytest.approx(0.75)
    assert combine([1.0, 0.3]) == 1.0
    assert combine([]) == 0.0


def test_one_anomaly_per_type_and_one_opinion_per_detector() -> None:
    findings = [
        finding("rules/oom", "resource_exhaustion", 0.5),
        finding("rules/oom", "resource_exhaustion", 0.5),  # the same detector twice
        finding("volume", "volume_spike", 0.7),
        finding("error_share", "error_burst", 0.3),  # below the line on its own
    ]
    anomalies = {a.anomaly_type: a for a in score_batch(batch(), findings)}
    assert set(anomalies) == {"volume_spike"}  # 0.5 from one detector is not 0.75
    findings.append(finding("http/5xx", "resource_exhaustion", 0.5))
    anomalies = {a.anomaly_type: a for a in score_batch(batch(), findings)}
    assert anomalies["resource_exhaustion"].score == pytest.approx(0.75)
    assert anomalies["resource_exhaustion"].summary == "rules/oom says 0.5"


def test_urgent_types_turn_critical_sooner() -> None:
    policy = ScoringPolicy()
    assert policy.severity("volume_spike", 0.8) is AnomalySeverity.WARNING
    assert policy.severity("crash", 0.8) is AnomalySeverity.CRITICAL
    assert policy.severity("volume_spike", 0.9) is AnomalySeverity.CRITICAL


def test_template_anomalies_group_by_their_template_others_by_type() -> None:
    first = score_batch(batch(), [finding("new_template", "new_template", 0.8, "t1"),
                                  finding("volume", "volume_spike", 0.8, "t1")])
    second = score_batch(batch(), [finding("new_template", "new_template", 0.8, "t2"),
                                   finding("volume", "volume_spike", 0.8, "t2")])
    by_type = {a.anomaly_type: a.fingerprint for a in first}
    again = {a.anomaly_type: a.fingerprint for a in second}
    assert by_type["volume_spike"] == again["volume_spike"]
    assert by_type["new_template"] != again["new_template"]


def test_sensitivity_global_and_per_stream() -> None:
    noisy = StreamKey("acme-prod", "k8s_container", "batch-jobs")
    vital = StreamKey("acme-prod", "cloud_run_revision", "checkout")
    policy = ScoringPolicy(
        sensitivity=1.2,
        stream_sensitivity={"batch-jobs": 0.5, "checkout": 0.9, str(vital): 2.0},
    )
    assert policy.sensitivity_for(noisy) == 0.5  # by service name
    assert policy.sensitivity_for(vital) == 2.0  # the full key wins over the name
    assert policy.sensitivity_for(StreamKey("p", "gce_instance", "other")) == 1.2
    found = [finding("volume", "volume_spike", 0.55)]
    assert score_batch(batch(noisy), found, policy) == []
    [anomaly] = score_batch(batch(vital), found, policy)
    assert anomaly.score == 1.0 and anomaly.severity is AnomalySeverity.CRITICAL
    assert score_batch(batch(), found, policy) == []  # checkout elsewhere: 0.9 by name
    [default] = score_batch(batch(StreamKey("p", "gce_instance", "other")), found, policy)
    assert default.score == pytest.approx(0.66)
