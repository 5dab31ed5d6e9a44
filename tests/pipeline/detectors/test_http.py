"""HTTP: latency quantiles and 5xx share against the stream's own past."""

from __future__ import annotations

import math
import random

from pipeline.detectors.http import HttpDetector
from tests.pipeline.detectors.factory import entry, mined

INSTANCES = ("i-1", "i-2", "i-3", "i-4")


def window(
    w: int,
    rng: random.Random,
    *,
    slow: float = 1.0,
    failing: float = 0.01,
    bad_instance: str | None = None,
    requests: int = 60,
):
    items = []
    for i in range(requests):
        instance = INSTANCES[i % len(INSTANCES)]
        fails = rng.random() < (0.6 if instance == bad_instance else failing)
        items.append(
            entry(
                "GET /items",
                at_s=w * 60 + i * 59 / requests,
                n=i,
                http_status=503 if fails else 200,
                http_latency_s=rng.lognormvariate(math.log(0.08 * slow), 0.4),
                labels={"instanceId": instance},
            )
        )
    return mined(items)


def run(batches):
    detector = HttpDetector()
    state, out = detector.initial_state(), []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        out.append(findings)
    return out


def test_quiet_on_steady_traffic():
    rng = random.Random(1)
    assert [f for found in run([window(w, rng) for w in range(300)]) for f in found] == []


def test_slower_requests_fire_latency():
    rng = random.Random(2)
    batches = [window(w, rng) for w in range(30)] + [window(w, rng, slow=5) for w in (30, 31)]
    results = run(batches)
    assert all(found == [] for found in results[:30])
    slow = [found[0] for found in results[30:]]
    assert {f.anomaly_type for f in slow} == {"latency"}
    assert slow[0].evidence.numbers["p95_s"] > 3 * slow[0].evidence.numbers["usual_p95_s"]
    assert slow[0].summary.startswith("Requests slowed down: p50 ")
    assert slow[1].score > slow[0].score >= 0.5


def test_a_5xx_surge_fires_and_names_the_instance():
    rng = random.Random(3)
    batches = [window(w, rng) for w in range(30)] + [window(30, rng, bad_instance="i-2")]
    results = run(batches)
    assert all(found == [] for found in results[:30])
    [finding] = results[-1]
    assert finding.anomaly_type == "http_5xx" and finding.score >= 0.5
    assert "answered with a 5xx status" in finding.summary
    assert "Mostly from instanceId=i-2 (" in finding.summary
    assert finding.evidence.numbers["failed"] >= 5


def test_too_few_requests_say_nothing():
    rng = random.Random(4)
    batches = [window(w, rng) for w in range(30)]
    batches.append(window(30, rng, slow=20, failing=1.0, requests=5))
    assert run(batches)[-1] == []
