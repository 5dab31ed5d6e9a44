"""Number series: spikes, shifts and drifts of the numbers logs carry, per stream."""

from __future__ import annotations

import math
import random
import re

import msgspec

from pipeline.detectors.series import NumericSeriesDetector, observations
from pipeline.detectors.series_stats import SeriesPolicy, SeriesStat, observe
from tests.pipeline.detectors.factory import entry, mined

FIVE_MIN = 300.0
LINE = 0.6  # the alerting line


def shape(message: str) -> str:
    return re.sub(r"(?<==)[-\d.]+|\b\d+(\.\d+)?\b", "<*>", message)


def gauge(values, *, start: int = 0, name: str = "queue_depth", detector=None):
    """One `name=value` line every five minutes, each its own batch."""
    detector = detector or NumericSeriesDetector()
    state, out = detector.initial_state(), []
    for i, value in enumerate(values, start):
        batch = mined([entry(f"{name}={value:.3f}", at_s=i * FIVE_MIN, n=i)], template_of=shape)
        findings, state = detector.detect(batch, state)
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=detector.state_type)
        out.append(findings)
    return out, state


def noisy(n: int, level: float, rng: random.Random, sigma: float = 1.0) -> list[float]:
    return [rng.gauss(level, sigma) for _ in range(n)]


def paged(out) -> list[int]:
    return [i for i, found in enumerate(out) if any(f.score >= LINE for f in found)]


def test_a_level_shift_pages_once_and_says_which_number_how_far_and_since_when():
    rng = random.Random(1)
    values = noisy(600, 40.0, rng) + noisy(300, 52.0, rng)
    out, _ = gauge(values)
    assert paged(out[:600]) == []
    hits = paged(out)
    assert len(hits) == 1 and 600 <= hits[0] < 640
    finding = next(f for f in out[hits[0]] if f.score >= LINE)
    assert finding.anomaly_type.startswith("number_")
    assert '"queue_depth"' in finding.summary
    assert re.search(r"usually stays near (39|40)\.\d", finding.summary)
    assert re.search(r"(since|at) 2023-11-1[67] ", finding.summary)
    assert finding.evidence.numbers["z"] > 3


def test_a_single_odd_value_is_noted_but_does_not_page_an_extreme_one_does():
    rng = random.Random(2)
    base = noisy(400, 100.0, rng, sigma=5.0)
    odd, _ = gauge([*base, 155.0, *noisy(20, 100.0, rng, sigma=5.0)])
    assert paged(odd) == []
    assert any(f.score < LINE for f in odd[400])
    extreme, _ = gauge([*base, 400.0, *noisy(20, 100.0, rng, sigma=5.0)])
    assert paged(extreme) == [400]
    assert extreme[400][0].anomaly_type == "number_spike"


def test_one_slow_request_in_a_busy_stream_does_not_page():
    rng = random.Random(3)
    detector = NumericSeriesDetector()
    state, out = detector.initial_state(), []
    for w in range(80):
        latencies = [rng.lognormvariate(math.log(0.12), 0.2) for _ in range(50)]
        if w == 70:
            latencies[0] = 30.0  # one request took 30 s
        batch = mined(
            entry("GET /items", at_s=w * 60 + i, n=i, http_status=200, http_latency_s=s)
            for i, s in enumerate(latencies)
        )
        findings, state = detector.detect(batch, state)
        out.append(findings)
    assert paged(out) == []
    assert "http#latency" in state.series


def test_a_clean_daily_cycle_stays_quiet_once_its_hours_are_learned():
    rng = random.Random(4)
    day = [50 + 30 * math.sin(2 * math.pi * i / 288) for i in range(288)]
    values = [v + rng.gauss(0, 1.0) for _ in range(7) for v in day]
    out, state = gauge(values)
    assert paged(out[288 * 4 :]) == []
    stat = next(iter(state.series.values()))
    assert len(stat.ring) == SeriesPolicy().ring and len(stat.hour_level) == 24


def test_series_per_stream_are_capped_and_the_stalest_go_first():
    detector = NumericSeriesDetector(max_series=5)
    state = detector.initial_state()
    for i in range(12):
        line = entry(f"metric_{chr(97 + i)}={i}", at_s=i * 60.0, n=i)
        _, state = detector.detect(mined([line], template_of=shape), state)
    assert len(state.series) == 5
    assert max(s.last_ns for s in state.series.values()) > min(
        s.last_ns for s in state.series.values()
    )


def test_only_numbers_with_a_name_or_a_unit_are_followed():
    detector = NumericSeriesDetector()
    batch = mined([entry("block 123456789 stored bytes=987654321", n=0)], template_of=shape)
    _, state = detector.detect(batch, detector.initial_state())
    assert len(state.series) == 1
    assert next(iter(state.series)).endswith("#3.0")


def test_every_number_of_a_long_line_is_named_by_its_own_token():
    """Lines with hundreds of numbers (metrics dumps): each slot finds its own name."""
    lines = [" ".join(f"m{chr(97 + k % 26)}{k}={k + i}" for k in range(300)) + " end"
             for i in range(3)]
    batch = mined([entry(text, n=i) for i, text in enumerate(lines)], template_of=shape)
    found = {o.key.split("#")[1]: o for o in observations(batch, min_requests=10)}
    assert len(found) == 300
    assert found["299.0"].label.startswith('The number "mn299" in "')
    assert found["299.0"].values == (299.0, 300.0, 301.0)


def test_observe_keeps_its_input_state_unchanged():
    stat = SeriesStat()
    _, after = observe(stat, 10**18, 5.0, SeriesPolicy())
    assert stat.n == 0 and stat.ring == [] and after.n == 1


def test_a_running_total_that_resets_does_not_page():
    rng = random.Random(5)
    total, values = 0.0, []
    for i in range(700):
        total = 0.0 if i == 600 else total + rng.uniform(5, 15)
        values.append(total)
    out, _ = gauge(values, name="total_steps")
    assert paged(out) == []


def test_a_series_on_an_irregular_cadence_is_noted_but_does_not_page():
    rng = random.Random(6)
    detector = NumericSeriesDetector()
    state, out, at = detector.initial_state(), [], 0.0
    for i in range(400):
        at += rng.choice([20.0, 60.0, 600.0, 3000.0])
        value = 240.0 if i < 300 else 0.0
        batch = mined([entry(f"total_altitude={value}", at_s=at, n=i)], template_of=shape)
        findings, state = detector.detect(batch, state)
        out.append(findings)
    assert paged(out) == []
    assert any(out[300:310])


def test_faster_requests_are_not_a_finding():
    rng = random.Random(7)
    latencies = [rng.gauss(200.0, 10.0) for _ in range(300)] + [20.0] * 50
    detector = NumericSeriesDetector()
    state, out = detector.initial_state(), []
    for i, ms in enumerate(latencies):
        line = entry("GET /", at_s=i * FIVE_MIN, n=i, http_status=200, http_latency_s=ms / 1000)
        findings, state = detector.detect(mined([line]), state)
        out.append(findings)
    assert not any(out)
    slower, _ = detector.detect(
        mined([entry("GET /", at_s=400 * FIVE_MIN, n=400, http_latency_s=5.0)]), state
    )
    assert slower and slower[0].anomaly_type == "number_spike"


def test_a_name_with_digits_masked_in_its_template_still_names_its_number():
    detector = NumericSeriesDetector()
    batch = mined(
        [entry("ec2_cpu_utilization_24ae8d=0.132 steps=12##40", n=0)],
        template_of=lambda m: "ec2_cpu_utilization_<*>=<*> steps=<*>##<*>",
    )
    _, state = detector.detect(batch, detector.initial_state())
    assert sorted(k.split("#", 1)[1] for k in state.series) == ["0.1", "1.0"]
