"""One contract every detector keeps: deterministic, pure, total on odd input."""

from __future__ import annotations

import msgspec
import pytest

from pipeline.detectors import default_detectors
from pipeline.entry import Severity
from pipeline.findings import Finding
from tests.pipeline.detectors.factory import entry, mined

DETECTORS = default_detectors()


def _history(n_batches: int = 30):
    for b in range(n_batches):
        yield mined(
            entry(f"request {i % 3} served in {10 + i} ms", at_s=b * 60 + i, n=i)
            for i in range(20)
        )


def _run(detector, batches):
    state = detector.initial_state()
    out = []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        # State must survive the trip through the state store's encoding.
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=detector.state_type)
        out.append(findings)
    return out, state


@pytest.fixture(params=DETECTORS, ids=lambda d: d.name)
def detector(request):
    return request.param


def test_empty_batch_gives_no_findings(detector):
    findings, _ = detector.detect(mined([]), detector.initial_state())
    assert findings == []


def test_deterministic(detector):
    batches = [*_history(), mined(entry("boom", severity=Severity.ERROR, n=i) for i in range(30))]
    first, state_a = _run(detector, batches)
    second, state_b = _run(detector, batches)
    assert first == second
    assert msgspec.msgpack.encode(state_a) == msgspec.msgpack.encode(state_b)


def test_findings_are_well_formed(detector):
    burst = mined(
        entry("FATAL panic: out of memory, connection refused", severity=Severity.CRITICAL, n=i)
        for i in range(200)
    )
    results, _ = _run(detector, [*_history(), burst])
    for finding in (f for batch in results for f in batch):
        assert isinstance(finding, Finding)
        assert 0.0 <= finding.score <= 1.0
        assert finding.summary.endswith(".") and "\n" not in finding.summary
        assert finding.anomaly_type.isidentifier()


def test_huge_and_unicode_batches_do_not_raise(detector):
    odd = ["", " ", "\u202e\u0000bidi", "日本語のログ 🚀" * 50, "\ufffd\ufffd", "a " * 2000]
    entries = [entry(odd[i % len(odd)], n=i, severity=Severity(100 * (i % 9))) for i in range(5000)]
    # A batch is bounded in bytes, so only a few entries can be as large as the limit.
    entries += [entry("x" * 250_000, n=i) for i in range(3)]
    huge = mined(entries)
    results, _ = _run(detector, [*_history(3), huge])
    assert all(isinstance(f, Finding) for batch in results for f in batch)


def test_quiet_on_clean_history(detector):
    results, _ = _run(detector, _history(60))
    assert [f for batch in results for f in batch] == []
