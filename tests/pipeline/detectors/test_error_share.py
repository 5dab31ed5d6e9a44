"""Error share on small batches: judged against the stream's own error rate per line."""

from __future__ import annotations

import math
from random import Random

from pipeline.detectors.error_share import (
    ErrorShareDetector,
    ErrorShareState,
    binomial_surprise,
)
from pipeline.entry import Severity
from tests.pipeline.detectors.factory import entry, mined

BATCH = 20  # about a minute of a stream replayed 3 s a line


def _batch(w: int, errors: int, size: int = BATCH):
    return mined(
        entry(f"request {i % 4} failed" if i < errors else f"request {i % 4} served",
              at_s=w * 60 + i * 3, n=i,
              severity=Severity.ERROR if i < errors else Severity.INFO)
        for i in range(size)
    )  # fmt: skip


def _warm(detector: ErrorShareDetector, error_rate: float, batches: int = 100):
    rng, state = Random(7), ErrorShareState()
    for w in range(batches):
        errors = sum(rng.random() < error_rate for _ in range(BATCH))
        found, state = detector.detect(_batch(w, errors), state)
        assert found == [], (w, errors)  # the stream's own noise never fires
    return state


def test_four_errors_in_twenty_lines_of_a_quiet_stream_fire():
    detector = ErrorShareDetector()
    state = _warm(detector, 0.005)
    found, _ = detector.detect(_batch(100, 4), state)
    assert [f.anomaly_type for f in found] == ["error_burst"]
    assert found[0].score >= 0.6 and found[0].evidence.numbers["errors"] == 4
    assert len(found[0].evidence.entry_ids) == 4  # the error lines, not the whole batch


def test_a_stream_that_often_errs_needs_more():
    detector = ErrorShareDetector()
    state = _warm(detector, 0.15)
    assert detector.detect(_batch(100, 5), state)[0] == []  # 25 % where 15 % is usual
    assert detector.detect(_batch(100, 16), state)[0] != []


def test_a_stream_seen_for_one_batch_needs_strong_evidence():
    detector = ErrorShareDetector()
    assert detector.detect(_batch(0, 4), ErrorShareState())[0] == []
    assert detector.detect(_batch(0, 15), ErrorShareState())[0] != []


def test_errors_that_keep_coming_add_up_over_batches():
    detector = ErrorShareDetector()
    state = _warm(detector, 0.0)
    fired = []
    for w in range(100, 104):  # two errors a minute: never much in one batch
        found, state = detector.detect(_batch(w, 2), state)
        fired.append(bool(found))
    assert fired[0] is False and fired[-1] is True, fired
    assert detector.detect(_batch(104, 0), state)[1].run.batches == 0  # the run ends


def test_binomial_surprise_is_the_tail_probability():
    exact = sum(math.comb(20, k) * 0.05**k * 0.95 ** (20 - k) for k in range(4, 21))
    assert math.isclose(binomial_surprise(4, 20, 0.05), -math.log10(exact), rel_tol=1e-9)
    assert binomial_surprise(0, 20, 0.05) == 0.0
    assert binomial_surprise(3, 20, 0.0) == 50.0
