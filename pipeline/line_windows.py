"""Scoring over windows of consecutive input lines, the way published log anomaly work
scores labeled logs (one 0/1 label per line).

Lines are numbered from 1 as in the input file. Window k holds lines k*N+1 .. (k+1)*N
(the last one may be shorter). A window is *positive* when any of its lines is labeled 1.
A source *flags* a window when a line it covers lies in it: a finding covers the lines
of the entries its evidence names, or, when it names none, every line of the batch it
was raised on; a silence found by the scheduled check covers its stream's lines from
its last entry before the silence to the check. The baseline rule is applied to each
window's own lines: error share above 10 %, or at least 5 identical error lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.entry import LogEntry
from pipeline.evaluation import BASELINE_REPEATS, BASELINE_SHARE, Confusion


@dataclass(frozen=True, slots=True)
class LineScore(Confusion):
    """One source's confusion counts over line windows."""


def window_count(lines: int, size: int) -> int:
    return -(-lines // size)


def windows_of(lines: Iterable[int], size: int) -> set[int]:
    """The windows (from 0) that hold any of `lines` (numbered from 1)."""
    return {(line - 1) // size for line in lines if line >= 1}


def positive_windows(labels: Sequence[bool], size: int) -> set[int]:
    return windows_of((i for i, label in enumerate(labels, 1) if label), size)


def score_windows(
    source: str, flagged: set[int], labels: Sequence[bool], size: int
) -> LineScore:
    """Confusion counts of `flagged` windows against the windows `labels` make positive."""
    total = window_count(len(labels), size)
    positive = positive_windows(labels, size)
    flagged = {w for w in flagged if 0 <= w < total}
    tp = len(flagged & positive)
    fp = len(flagged - positive)
    fn = len(positive - flagged)
    return LineScore(source, tp, fp, fn, total - tp - fp - fn)


def baseline_windows(entries: Mapping[int, LogEntry], lines: int, size: int) -> set[int]:
    """Windows where the baseline rule fires on the window's own entries."""
    flagged = set()
    for window in range(window_count(lines, size)):
        first = window * size + 1
        mine = [entries[n] for n in range(first, first + size) if n in entries]
        if _baseline_fires(mine):
            flagged.add(window)
    return flagged


def _baseline_fires(entries: Sequence[LogEntry]) -> bool:
    errors = [e.message for e in entries if e.severity.is_error]
    if entries and len(errors) / len(entries) > BASELINE_SHARE:
        return True
    return any(n >= BASELINE_REPEATS for _, n in Counter(errors).most_common(1))
