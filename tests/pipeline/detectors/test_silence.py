"""Silence: a regularly active stream that stops logging, checked on a schedule."""

from __future__ import annotations

import msgspec

from pipeline.detectors.silence import SilenceDetector, SilenceState, check_silence
from tests.pipeline.detectors.factory import STREAM, T0, entry, mined

MINUTE_NS = 60 * 10**9


def window(w: int, count: int = 20):
    return mined(entry(f"tick {i}", at_s=w * 60 + i * 2, n=i) for i in range(count))


def regular(windows: int = 60) -> SilenceState:
    detector, state = SilenceDetector(), SilenceState()
    for w in range(windows):
        findings, state = detector.detect(window(w), state)
        assert findings == []
    return msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=SilenceState)


def test_a_short_pause_is_not_silence():
    state = regular()
    assert check_silence(state, state.last_seen_ns + 2 * MINUTE_NS, STREAM) is None


def test_a_long_pause_is_silence_and_grows_with_time():
    state = regular()
    early = check_silence(state, state.last_seen_ns + 12 * MINUTE_NS, STREAM)
    late = check_silence(state, state.last_seen_ns + 40 * MINUTE_NS, STREAM)
    assert early is not None and late is not None
    assert early.anomaly_type == "silence" and early.score >= 0.6
    assert late.score > early.score
    assert early.summary.startswith("checkout has logged nothing for 12 minutes")
    assert early.evidence.numbers["threshold_s"] == SilenceDetector().floor_s


def test_the_threshold_follows_the_typical_gap():
    sparse = SilenceDetector(), SilenceState()
    detector, state = sparse
    for w in range(0, 40 * 5, 5):  # one batch every five minutes
        _, state = detector.detect(window(w), state)
    threshold = detector.threshold_s(state)
    assert threshold is not None and threshold > 20 * 60
    assert check_silence(state, state.last_seen_ns + 12 * MINUTE_NS, STREAM) is None


def test_a_stream_not_yet_regular_is_never_silent():
    detector, state = SilenceDetector(), SilenceState()
    for w in range(3):
        _, state = detector.detect(window(w), state)
    assert check_silence(state, state.last_seen_ns + 60 * MINUTE_NS, STREAM) is None
    assert check_silence(SilenceState(), T0, STREAM) is None


def test_a_stream_gone_for_good_is_retired():
    state = regular()
    gone = state.last_seen_ns + int(SilenceDetector().give_up_s * 1e9) + MINUTE_NS
    assert check_silence(state, gone, STREAM) is None


def test_the_batch_after_a_silence_reports_it_and_learns_that_the_stream_pauses():
    detector, state = SilenceDetector(), regular()
    findings, after = detector.detect(window(60 + 30), state)
    assert [f.anomaly_type for f in findings] == ["silence"]
    assert "was silent for 30 minutes, then resumed" in findings[0].summary
    assert findings[0].evidence.numbers["last_seen_ns"] == state.last_seen_ns
    # The same pause soon again is how this stream behaves now, not a second incident.
    threshold = detector.threshold_s(after)
    assert threshold is not None and threshold > 30 * 60


def test_a_thin_sample_learns_that_its_gaps_are_normal():
    """Lines of a sample of months of logs: minutes apart, sometimes hours."""
    detector, state = SilenceDetector(), SilenceState()
    at_min, found = 0, []
    for i in range(400):
        at_min += 3 if i % 7 else 50 + (i * 37) % 90  # every 7th gap is an hour or two
        line = mined([entry("tick", at_s=at_min * 60, n=i)])
        findings, state = detector.detect(line, state)
        found += findings
        silent = check_silence(state, state.last_seen_ns + 100 * MINUTE_NS, STREAM)
        found += [silent] if silent else []
    assert found == []
