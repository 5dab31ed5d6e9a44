"""Template rates: a known message bursting, a rare one bursting, and what stays quiet."""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace

from pipeline.detectors.template_rate import TemplateRateDetector
from pipeline.entry import Severity
from tests.pipeline.detectors.factory import entry, mined

MIX = {
    "GET /items took {} ms": 30,
    "cache miss for key {}": 10,
    "user {} logged in": 5,
    "retrying call attempt {}": 2,
}


def shape(message: str) -> str:
    return re.sub(r"\d+", "<*>", message)


def window(w: int, rng: random.Random, scale: float = 1.0, extra: dict | None = None):
    counts = {text: _poisson(rng, rate * scale) for text, rate in MIX.items()}
    counts.update(extra or {})
    messages = [text.format(rng.randrange(1000)) for text, n in counts.items() for _ in range(n)]
    rng.shuffle(messages)
    severity = {
        m: Severity.WARNING if m.startswith(("retrying", "disk quota")) else Severity.INFO
        for m in messages
    }
    return mined(
        (
            entry(m, at_s=w * 60 + 59 * i / len(messages), n=i, severity=severity[m])
            for i, m in enumerate(messages)
        ),
        template_of=shape,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def run(batches, detector=None):
    detector = detector or TemplateRateDetector()
    state, out = detector.initial_state(), []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        out.append(findings)
    return out, state


def template_id(text: str, batch) -> str:
    return next(t for t, body in batch.templates.items() if body == shape(text))


def test_quiet_on_a_noisy_steady_mix():
    rng = random.Random(1)
    results, _ = run([window(w, rng) for w in range(200)])
    assert [f for found in results for f in found] == []


def test_a_template_far_above_its_rate_fires_and_leads():
    rng = random.Random(2)
    batches = [window(w, rng) for w in range(40)]
    batches += [window(w, rng, extra={"retrying call attempt {}": 40}) for w in range(40, 44)]
    results, _ = run(batches)
    assert all(found == [] for found in results[:40])
    bursts = [found[0] for found in results[40:]]
    assert {f.anomaly_type for f in bursts} == {"template_burst"}
    assert bursts[0].evidence.template_ids[0] == template_id("retrying call attempt 1", batches[40])
    assert bursts[0].summary.startswith('The message "retrying call attempt <*>" was logged 40 ')
    assert bursts[0].score >= 0.5 and bursts[-1].score > bursts[0].score


def test_a_stream_wide_surge_is_not_a_template_burst():
    rng = random.Random(3)
    batches = [window(w, rng) for w in range(40)] + [window(40, rng, scale=6.0)]
    results, _ = run(batches)
    assert results[-1] == []


def test_a_rare_template_in_a_burst_fires():
    rng = random.Random(4)
    batches = [
        window(w, rng, extra={"disk quota low on vol{}": 1} if w in (3, 9) else None)
        for w in range(40)
    ]
    batches.append(window(40, rng, extra={"disk quota low on vol{}": 12}))
    results, _ = run(batches)
    assert all(found == [] for found in results[:40])
    [finding] = results[-1]
    assert finding.anomaly_type == "rare_template"
    assert "(only 2 time(s) before) was logged 12 times" in finding.summary


def test_a_rare_routine_message_in_a_small_burst_is_news_not_trouble():
    """At INFO and stating no failure, a dozen lines of a rare message do not fire."""
    rng = random.Random(4)
    batches = [
        window(w, rng, extra={"rebalanced shard {}": 1} if w in (3, 9) else None)
        for w in range(40)
    ]
    batches.append(window(40, rng, extra={"rebalanced shard {}": 12}))
    results, _ = run(batches)
    assert all(found == [] for found in results)


def test_a_template_that_always_comes_in_clumps_is_not_bursting_when_it_clumps():
    rng = random.Random(5)
    clumps = [
        window(w, rng, extra={"GC pause {} ms": 30} if w % 10 == 0 else None) for w in range(300)
    ]
    results, _ = run(clumps)
    assert sum(1 for found in results[150:] if found) == 0


def test_a_generalized_template_keeps_its_history():
    rng = random.Random(6)
    batches = [window(w, rng) for w in range(40)]
    old = template_id("retrying call attempt 1", batches[0])
    burst = window(40, rng, extra={"retrying call attempt {}": 40})
    renamed = {t: ("tnew" if t == old else t) for t in burst.template_ids}
    burst = replace(
        burst,
        template_ids=tuple(renamed[t] for t in burst.template_ids),
        templates={renamed[t]: b for t, b in burst.templates.items()},
        ancestors={"tnew": (old,)},
    )
    results, state = run([*batches, burst])
    assert results[-1][0].evidence.template_ids[0] == "tnew"
    assert old not in state.templates


def test_a_few_lines_a_minute_for_many_minutes_is_a_burst_when_no_minute_is():
    rng = random.Random(7)
    usual = {"upstream timed out for {}": 1}
    batches = [window(w, rng, extra=usual if w % 10 == 0 else None) for w in range(60)]
    blip = [window(60, rng, extra={"upstream timed out for {}": 6})]
    lasting = [window(w, rng, extra={"upstream timed out for {}": 6}) for w in range(61, 71)]
    alone, _ = run([*batches, blip[0], *[window(w, rng) for w in range(61, 71)]])
    assert [f for found in alone[60:] for f in found] == []  # six lines once are not a burst
    results, _ = run([*batches, *lasting])
    bursts = [found[0] for found in results[60:] if found]
    assert bursts, "ten minutes at six times the rate went unnoticed"
    first = bursts[0]
    assert first.evidence.numbers["run_count"] >= 20
    assert "in the last" in first.summary and "windows" in first.summary
    assert bursts[-1].score > first.score
