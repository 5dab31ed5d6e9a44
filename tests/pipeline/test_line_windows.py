"""Windows of consecutive lines: which are positive, which a source flags, the baseline."""

from __future__ import annotations

from pipeline import line_windows as lw
from pipeline.entry import LogEntry, Severity


def _entry(n: int, severity: Severity = Severity.INFO, message: str = "") -> LogEntry:
    return LogEntry(insert_id=str(n), timestamp_ns=n, severity=severity,
                    message=message or f"line {n}")  # fmt: skip


def test_windows_hold_consecutive_lines_numbered_from_one():
    assert lw.windows_of([1, 20, 21, 45], 20) == {0, 1, 2}
    assert lw.window_count(45, 20) == 3
    labels = [False] * 45
    labels[44] = True  # the last, shorter window
    assert lw.positive_windows(labels, 20) == {2}


def test_score_counts_each_window_once():
    labels = [20 < n <= 40 for n in range(1, 101)]  # window 1 is positive
    score = lw.score_windows("x", {1, 3, 99}, labels, 20)  # 99 is past the end
    assert (score.tp, score.fp, score.fn, score.tn) == (1, 1, 0, 3)
    assert (score.precision, score.recall) == (0.5, 1.0)


def test_the_baseline_judges_each_windows_own_lines():
    entries = {n: _entry(n) for n in range(1, 61)}
    for n in (3, 4, 5):  # 3 of 20 errors: 15 %, over 10 %
        entries[n] = _entry(n, Severity.ERROR)
    for n in (25, 26):  # 2 of 20: 10 %, not over
        entries[n] = _entry(n, Severity.ERROR)
    for n in range(41, 46):
        entries[n] = _entry(n, Severity.ERROR, "disk failed")
    assert lw.baseline_windows(entries, 60, 20) == {0, 2}
    assert lw.baseline_windows(entries, 60, 60) == {0}  # 10 of 60 errors: 17 %
