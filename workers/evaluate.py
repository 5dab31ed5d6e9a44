"""`logwarden eval`: replays a labeled file through the embedded pipeline and scores it.

The replay is `run_embedded` itself, on a throwaway SQLite database; a hook watches each
batch and its outcome. Labels are a CSV of incident windows (`service,start,end,kind`)
and, optionally, entries labeled `logwarden.dev/anomaly: "true"`.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from pipeline import evaluation as ev
from pipeline import line_windows as lw
from pipeline import nab
from pipeline.anomaly import TEMPLATE_TYPES, Anomaly
from pipeline.batch import Batch
from pipeline.detectors import default_detectors
from pipeline.entry import StreamKey
from pipeline.findings import Finding
from pipeline.parsing import rfc3339_ns
from pipeline.parsing.timestamps import TimestampError
from pipeline.processing import BatchOutcome
from pipeline.scoring import ScoringPolicy
from pipeline.storage import Store, make_engine
from workers import line_eval
from workers.embedded import RunSummary, run_embedded
from workers.runtime import scoring_policy
from workers.settings import Settings

LABEL_FIELDS = ("service", "start", "end", "kind")
ANOMALY_LABEL = "logwarden.dev/anomaly"


class LabelError(ValueError):
    """The labels file is wrong; the message names the file, the line and the fix."""


def read_labels(path: Path) -> list[ev.Incident]:
    """Incidents from a CSV of `service,start,end,kind` rows (RFC 3339 times).

    A first row of exactly those names is a header; blank lines and lines starting with
    `#` are skipped. Raises LabelError naming the line of the first bad row.
    """
    text = path.read_text(encoding="utf-8")
    incidents = []
    for lineno, row in _rows(text):
        if lineno == 1 and tuple(c.strip().lower() for c in row) == LABEL_FIELDS:
            continue
        incidents.append(_incident(row, f"{path}: line {lineno}"))
    return incidents


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield lineno, next(csv.reader(io.StringIO(line)))


def _incident(row: list[str], where: str) -> ev.Incident:
    if len(row) != len(LABEL_FIELDS):
        raise LabelError(
            f"{where}: expected 4 fields (service,start,end,kind), got {len(row)}: {row!r}"
        )
    service, start, end, kind = (cell.strip() for cell in row)
    if not service:
        raise LabelError(f"{where}: the service is empty")
    start_ns, end_ns = _time(start, "start", where), _time(end, "end", where)
    if end_ns < start_ns:
        raise LabelError(f"{where}: end {end} is before start {start}")
    return ev.Incident(service, start_ns, end_ns, kind)


def _time(text: str, name: str, where: str) -> int:
    try:
        return rfc3339_ns(text)
    except TimestampError as exc:
        raise LabelError(f"{where}: {name} {text!r} {exc} (e.g. 2026-11-02T08:00:00Z)") from exc


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluated replay measured."""

    scores: list[ev.Score]
    false_alerts: list[ev.FalseAlert]
    incidents: list[ev.IncidentResult]
    windows: int
    positive_windows: int
    summary: RunSummary
    stored_alerts: int
    lines: line_eval.LineEvaluation | None = None
    nab_scores: dict[str, nab.CorpusScore] = field(default_factory=dict)  # per source


@dataclass
class _Collector:
    """Turns each batch and its outcome into a scored window."""

    policy: ScoringPolicy
    windows: list[ev.Window] = field(default_factory=list)
    marked: list[ev.Incident] = field(default_factory=list)
    batch_ids: set[str] = field(default_factory=set)
    lines: line_eval.LineCollector = field(default_factory=line_eval.LineCollector)

    def __call__(self, batch: Batch, outcome: BatchOutcome) -> None:
        self.batch_ids.add(batch.id)
        flags = [_combined(a) for a in outcome.anomalies]
        flags += self._detector_flags(outcome.findings, batch.key)
        above = self._above_line(outcome.findings, batch.key)
        self.lines.on_batch(batch.entries, outcome.anomalies, above)
        flags += ev.baseline_flags(batch.entries)
        service = batch.key.service
        self.windows.append(ev.Window(service, batch.start_ns, batch.end_ns, tuple(flags)))
        if any(e.labels.get(ANOMALY_LABEL) == "true" for e in batch.entries):
            self.marked.append(ev.Incident(service, batch.start_ns, batch.end_ns, "line label"))

    def check_windows(self, store: Store) -> list[ev.Window]:
        """Windows of the scheduled silence checks: anomalies no batch produced."""
        found = [a for a in store.anomalies(limit=10**9) if a.batch_id not in self.batch_ids]
        by_window: dict[str, list[Anomaly]] = {}
        for anomaly in found:
            by_window.setdefault(anomaly.batch_id, []).append(anomaly)
            self.lines.on_check(anomaly)
        return [self._check_window(group) for _, group in sorted(by_window.items())]

    def _check_window(self, anomalies: list[Anomaly]) -> ev.Window:
        flags = [_combined(a) for a in anomalies]
        first = anomalies[0]
        flags += self._detector_flags([f for a in anomalies for f in a.findings], first.stream)
        return ev.Window(first.stream.service, first.start_ns, first.end_ns, tuple(flags))

    def _detector_flags(self, findings: Iterable[Finding], stream: StreamKey) -> list[ev.Flag]:
        """A detector flags a window with a finding that scores at the line by itself."""
        return [
            # "rules/crash" is the rules detector speaking for its rule "crash".
            ev.Flag(f.detector.split("/")[0], _group(f), f.summary)
            for f in self._above_line(findings, stream)
        ]

    def _above_line(self, findings: Iterable[Finding], stream: StreamKey) -> list[Finding]:
        sensitivity = self.policy.sensitivity_for(stream)
        return [
            f for f in findings
            if min(1.0, f.score * sensitivity) >= self.policy.anomaly_threshold
        ]  # fmt: skip


def _group(finding: Finding) -> str:
    """What makes one detector's findings one alert: as the anomaly fingerprint does,
    the type, and the leading template only for template anomalies."""
    lead = finding.evidence.template_ids[:1] if finding.anomaly_type in TEMPLATE_TYPES else ()
    return f"{finding.detector}|{finding.anomaly_type}|{lead}"


def _combined(anomaly: Anomaly) -> ev.Flag:
    return ev.Flag(ev.COMBINED, anomaly.fingerprint, f"{anomaly.anomaly_type}: {anomaly.summary}")


def evaluate(
    path: Path,
    incidents: list[ev.Incident],
    settings: Settings,
    *,
    progress: bool | None = None,
    line_labels: Sequence[bool] | None = None,
    window_lines: int = 20,
    pace_s: float | None = None,
) -> Evaluation:
    """Replays `path` (any format `read_input` detects) on a throwaway database
    and scores every detector, Logwarden's stored anomalies and the baseline rule.

    With `line_labels` (one per line of `path`), also over windows of `window_lines`
    lines (see `pipeline.line_windows`). `pace_s` replays the lines evenly spaced.
    Raises LineLabelError when the labels do not match the file's lines one to one.
    """
    if line_labels is not None:
        line_eval.check_label_count(line_labels, _line_count(path), path)
    collector = _Collector(scoring_policy(settings))
    summary, checks, stored_alerts = _replay(path, settings, collector, progress, pace_s)
    labels = [*incidents, *collector.marked]
    windows = ev.with_missed_incidents([*collector.windows, *checks], labels)
    sources = [*(d.name for d in default_detectors(settings.rules_file)), ev.COMBINED, ev.BASELINE]
    scores, false_alerts = [], []
    by_source = {
        s: nab.score_corpus(nab.series_from_windows(collector.windows, windows, labels, s))
        for s in sources
    }
    for source in sources:
        result, false = ev.score(source, windows, labels, settings.alert_window_s)
        scores.append(result)
        false_alerts += false
    return Evaluation(
        scores,
        false_alerts,
        ev.incident_results(windows, labels, sources),
        len(windows),
        sum(ev.positive(w, labels) for w in windows),
        summary,
        stored_alerts,
        _line_evaluation(collector.lines, sources, line_labels, window_lines),
        by_source,
    )


def _line_evaluation(
    lines: line_eval.LineCollector,
    sources: Sequence[str],
    labels: Sequence[bool] | None,
    size: int,
) -> line_eval.LineEvaluation | None:
    if labels is None:
        return None
    positive = len(lw.positive_windows(labels, size))
    total = lw.window_count(len(labels), size)
    return line_eval.LineEvaluation(size, total, positive, lines.scores(sources, labels, size))


def _line_count(path: Path) -> int:
    with _open(path) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else path.open("rb") as stream:
        return sum(1 for _ in stream)


def _replay(
    path: Path, settings: Settings, collector: _Collector, progress: bool | None,
    pace_s: float | None,
) -> tuple[RunSummary, list[ev.Window], int]:  # fmt: skip
    """`run_embedded` on a database that lives as long as this call, delivering nothing."""
    with tempfile.TemporaryDirectory(prefix="logwarden-eval-") as tmp:
        local = settings.model_copy(
            update={"database_url": f"sqlite:///{Path(tmp) / 'eval.db'}", "channels": []}
        )
        with _open(path) as stream:
            summary = run_embedded(
                stream,
                source_name=path.name.split(".")[0],
                settings=local,
                size_hint=_size(path),
                progress=progress,
                on_outcome=collector,
                pace_s=pace_s,
                on_line=collector.lines.on_line,
            )
        store = Store(make_engine(local.database_url))
        try:
            return summary, collector.check_windows(store), len(store.alerts(limit=10**9))
        finally:
            store.close()


def _open(path: Path) -> BinaryIO:
    return path.open("rb")  # the content decides the format, gzip included


def _size(path: Path) -> int:
    """Bytes on disk: the progress bar follows how far the file has been read."""
    return path.stat().st_size


def render_table(result: Evaluation, name: str, *, details: bool = False) -> str:
    """The scores as a text table; with `details`, each incident and each false alert."""
    first = result.scores[0]
    lines = [
        f"{name} ({result.summary.input_kind}): {result.summary.entries:,} entries, "
        f"{result.windows:,} windows "
        f"({result.positive_windows:,} positive), {len(result.incidents)} incidents, "
        f"{first.hours:.1f} h of log time, {first.service_days:.2f} service-days",
        "",
        f"{'source':<14}{'precision':>10}{'recall':>8}{'F1':>7}{'TP':>6}{'FP':>6}{'FN':>6}"
        f"{'alerts':>8}{'false':>7}{'false/h':>9}{'false/svc-day':>15}",
    ]
    for s in result.scores:
        lines.append(
            f"{s.source:<14}{s.precision:>10.2f}{s.recall:>8.2f}{s.f1:>7.2f}{s.tp:>6}{s.fp:>6}"
            f"{s.fn:>6}{s.alerts:>8}{s.false_alerts:>7}{s.false_alerts_per_hour:>9.2f}"
            f"{s.false_alerts_per_service_day:>15.2f}"
        )
    if result.lines is not None:
        lines += line_eval.render(result.lines)
    lines += ["", "NAB standard profile (each service a series, its batches the rows; null 0)"]
    lines += [
        f"{source:<14}{c.normalized():>8.1f}  windows {c.detected}/{c.windows} detected, "
        f"{c.false_positives} false positives"
        for source, c in result.nab_scores.items()
    ]
    if details:
        lines += ["", "incidents: windows, and how many each source flagged"]
        lines += [_incident_line(r) for r in result.incidents]
        lines += ["", "false alerts: source, service, start, windows, first summary"]
        lines += [
            f"  {a.source:<13} {a.service:<16} {_clock(a.start_ns)} {a.windows:>3}  "
            f"{a.summary[:110]}"
            for a in result.false_alerts
        ]
    return "\n".join(lines)


def _incident_line(r: ev.IncidentResult) -> str:
    i = r.incident
    caught = ", ".join(f"{s} {n}" for s, n in r.flagged.items() if n) or "nothing"
    return (
        f"  {i.service:<16} {i.kind:<22} {_clock(i.start_ns)} to {_clock(i.end_ns)[-8:]} "
        f"{r.windows:>3} windows: {caught}"
    )


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def to_json(result: Evaluation, name: str) -> dict[str, Any]:
    """The same figures, machine-readable."""
    return {
        "file": name,
        "entries": result.summary.entries,
        "input_format": str(result.summary.input_kind),
        "windows": result.windows,
        "positive_windows": result.positive_windows,
        "stored_alerts": result.stored_alerts,
        "scores": [
            {
                "source": s.source,
                **{k: getattr(s, k) for k in ("tp", "fp", "fn", "tn", "alerts", "false_alerts")},
                **{k: round(getattr(s, k), 4) for k in _RATES},
            }
            for s in result.scores
        ],
        "incidents": [
            {
                **_times(r.incident),
                "kind": r.incident.kind,
                "windows": r.windows,
                "flagged": r.flagged,
            }
            for r in result.incidents
        ],
        "false_alerts": [
            {"source": a.source, **_times(a), "windows": a.windows, "summary": a.summary}
            for a in result.false_alerts
        ],
        "line_windows": line_eval.to_json(result.lines) if result.lines else None,
        "nab": {
            source: {
                "score": round(c.normalized(), 2),
                "windows": c.windows,
                "detected": c.detected,
                "false_positives": c.false_positives,
            }
            for source, c in result.nab_scores.items()
        },
    }


_RATES = (
    "precision",
    "recall",
    "f1",
    "hours",
    "service_days",
    "false_alerts_per_hour",
    "false_alerts_per_service_day",
)


def _times(item: ev.Incident | ev.FalseAlert) -> dict[str, str]:
    return {"service": item.service, "start": rfc3339(item.start_ns), "end": rfc3339(item.end_ns)}


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
