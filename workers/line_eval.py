"""The line side of `logwarden eval`: which input lines each source's alerts cover, and
their scores over windows of consecutive lines (`pipeline.line_windows` defines them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import evaluation as ev
from pipeline import line_windows as lw
from pipeline.anomaly import Anomaly
from pipeline.entry import LogEntry, StreamKey
from pipeline.findings import Finding


class LineLabelError(ValueError):
    """The line labels file is wrong; the message names the file, the line and the fix."""


def read_line_labels(path: Path) -> list[bool]:
    """One label per input line: `0` or `1` (blank lines in the labels file are errors,
    since line n of the labels is line n of the logs)."""
    labels = []
    for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        value = text.strip()
        if value not in ("0", "1"):
            raise LineLabelError(
                f"{path}: line {lineno}: expected 0 or 1 (one label per line of the logs), "
                f"got {text!r}"
            )
        labels.append(value == "1")
    return labels


@dataclass
class LineCollector:
    """Told every replayed entry with its line number, then every alert: keeps which
    lines each source covers."""

    entries: dict[int, LogEntry] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)
    by_stream: dict[StreamKey, list[tuple[int, int]]] = field(default_factory=dict)
    covered: dict[str, set[int]] = field(default_factory=dict)

    def on_line(self, lineno: int, entry: LogEntry) -> None:
        self.entries[lineno] = entry
        self.line_of.setdefault(entry.insert_id, lineno)
        self.by_stream.setdefault(entry.stream_key, []).append((entry.timestamp_ns, lineno))

    def on_batch(
        self, entries: Sequence[LogEntry], anomalies: Iterable[Anomaly],
        flagged: Iterable[Finding],
    ) -> None:  # fmt: skip
        batch_lines = [n for e in entries if (n := self.line_of.get(e.insert_id))]
        for anomaly in anomalies:
            self._cover(ev.COMBINED, self._lines(anomaly.findings, batch_lines))
        for finding in flagged:
            self._cover(finding.detector.split("/")[0], self._lines([finding], batch_lines))

    def on_check(self, anomaly: Anomaly) -> None:
        """An anomaly of the scheduled check: its stream's lines in its window."""
        stamps = self.by_stream.get(anomaly.stream, [])
        lines = [n for at, n in stamps if anomaly.start_ns <= at <= anomaly.end_ns]
        self._cover(ev.COMBINED, lines)
        for finding in anomaly.findings:
            self._cover(finding.detector.split("/")[0], lines)

    def _lines(self, findings: Iterable[Finding], batch_lines: list[int]) -> list[int]:
        lines: list[int] = []
        for finding in findings:
            named = [self.line_of.get(i) for i in finding.evidence.entry_ids]
            lines += [n for n in named if n] if finding.evidence.entry_ids else batch_lines
        return lines

    def _cover(self, source: str, lines: Iterable[int]) -> None:
        self.covered.setdefault(source, set()).update(lines)

    def scores(
        self, sources: Sequence[str], labels: Sequence[bool], size: int
    ) -> list[lw.LineScore]:
        """Every source's score over windows of `size` lines, the baseline's last."""
        result = [
            lw.score_windows(s, lw.windows_of(self.covered.get(s, ()), size), labels, size)
            for s in sources
            if s != ev.BASELINE
        ]
        baseline = lw.baseline_windows(self.entries, len(labels), size)
        return [*result, lw.score_windows(ev.BASELINE, baseline, labels, size)]


def check_label_count(labels: Sequence[bool], lines: int, path: Path) -> None:
    if len(labels) != lines:
        raise LineLabelError(
            f"{path}: {len(labels):,} labels for {lines:,} lines of logs: give one 0/1 "
            "label per line of the logs, in order"
        )


@dataclass(frozen=True, slots=True)
class LineEvaluation:
    """Scores over windows of `size` lines."""

    size: int
    windows: int
    positive: int
    scores: list[lw.LineScore]


def render(result: LineEvaluation) -> list[str]:
    lines = [
        "",
        f"windows of {result.size} lines: {result.windows:,} windows "
        f"({result.positive:,} positive)",
        f"{'source':<14}{'precision':>10}{'recall':>8}{'F1':>7}{'TP':>6}{'FP':>6}{'FN':>6}"
        f"{'TN':>7}",
    ]
    for s in result.scores:
        lines.append(
            f"{s.source:<14}{s.precision:>10.2f}{s.recall:>8.2f}{s.f1:>7.2f}{s.tp:>6}{s.fp:>6}"
            f"{s.fn:>6}{s.tn:>7}"
        )
    return lines


def to_json(result: LineEvaluation) -> dict[str, object]:
    return {
        "window_lines": result.size,
        "windows": result.windows,
        "positive_windows": result.positive,
        "scores": [
            {
                "source": s.source, "tp": s.tp, "fp": s.fp, "fn": s.fn, "tn": s.tn,
                "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                "f1": round(s.f1, 4),
            }
            for s in result.scores
        ],
    }  # fmt: skip
