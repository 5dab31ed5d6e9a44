"""Volume: spikes and drops of entries per minute against the stream's own baseline."""

from __future__ import annotations

import math
import random
import re

from pipeline.detectors.volume import HOUR_NS, VolumeDetector
from tests.pipeline.detectors.factory import T0, entry, mined

PODS = ("web-1", "web-2", "web-3", "web-4")


def window(w: int, count: int, *, period: int = 60, pods=PODS):
    return mined(
        entry(
            "GET /items served",
            at_s=w * period + period * (i + 0.5) / count,
            n=i,
            resource_labels={"pod_name": pods[i % len(pods)]},
        )
        for i in range(count)
    )


def noisy(rng: random.Random, mean: float) -> int:
    return max(1, round(rng.gauss(mean, math.sqrt(mean))))


def run(detector, batches):
    state, out = detector.initial_state(), []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        out.append(findings)
    return out, state


def test_quiet_on_a_noisy_steady_stream():
    rng = random.Random(1)
    results, _ = run(VolumeDetector(), [window(w, noisy(rng, 60)) for w in range(300)])
    assert [f for found in results for f in found] == []


def test_a_spike_fires_and_grows_while_it_lasts():
    rng = random.Random(2)
    batches = [window(w, noisy(rng, 60)) for w in range(40)]
    batches += [window(w, 400) for w in range(40, 48)]
    results, _ = run(VolumeDetector(), batches)
    assert all(found == [] for found in results[:40])
    spikes = [found[0] for found in results[40:]]
    assert all(f.anomaly_type == "volume_spike" for f in spikes)
    assert spikes[0].score >= 0.5 and spikes[-1].score > spikes[0].score  # not learned
    assert spikes[-1].score >= 0.85
    assert re.search(
        r"logged 3\d\d entries per minute, [5-8]\.\dx its usual [56]\d\.$", spikes[0].summary
    )
    assert spikes[0].evidence.numbers["baseline_per_minute"] < 70
    assert len(spikes[0].evidence.entry_ids) == 20


def test_a_drop_fires():
    rng = random.Random(3)
    batches = [window(w, noisy(rng, 100)) for w in range(40)] + [window(40, 8), window(41, 8)]
    results, _ = run(VolumeDetector(), batches)
    drops = [f for found in results[40:] for f in found]
    assert [f.anomaly_type for f in drops] == ["volume_drop", "volume_drop"]
    assert "below its usual" in drops[0].summary and drops[1].score > drops[0].score


def test_quiet_during_warm_up():
    results, _ = run(VolumeDetector(), [window(0, 60), window(1, 60), window(2, 900)])
    assert results == [[], [], []]


def test_the_spike_names_the_pod_it_comes_from():
    rng = random.Random(4)
    batches = [window(w, noisy(rng, 60)) for w in range(40)]
    batches.append(window(40, 600, pods=("web-7f9",)))
    results, _ = run(VolumeDetector(), batches)
    assert "Mostly from pod_name=web-7f9 (100% vs 0% usually)." in results[-1][0].summary


def test_a_daily_peak_is_learned_but_a_spike_at_another_hour_is_not():
    """Ten-minute windows over three days; every day from 12:00 to 13:00 UTC is busy."""
    rng = random.Random(5)
    period, per_day = 600, 144
    start = (T0 // (24 * HOUR_NS) + 1) * 24 * HOUR_NS  # midnight after T0
    offset = (start - T0) // 10**9 // period

    def hour(w: int) -> int:
        return (T0 + w * period * 10**9) // HOUR_NS % 24

    def busy(w: int) -> float:
        return 5.0 if hour(w) == 12 else 1.0

    days = range(offset, offset + 3 * per_day)
    batches = [window(w, noisy(rng, 20 * busy(w)), period=period) for w in days]
    spike_at = offset + 2 * per_day + 18 * 6 + 2  # day three, 18:20
    batches[spike_at - offset] = window(spike_at, 200, period=period)
    results, _ = run(VolumeDetector(), batches)
    fired = {w: found for w, found in zip(days, results, strict=True) if found}
    third_day = [w for w in fired if w >= offset + 2 * per_day]
    assert any(hour(w) == 12 for w in fired)  # the first days' peaks are news
    assert third_day == [spike_at]
    assert fired[spike_at][0].anomaly_type == "volume_spike"
