"""NAB standard-profile scores of Logwarden's number series, the windowed Gaussian and the
null detector, on the same series in the same run.

    python -m tests.benchmarks.nab [--half held-out|tune] [--logs]

By default each point goes through `NumericSeriesDetector.detect` as a one-entry batch
in both shapes (a `name=value` line, a request with `httpRequest.latency`): a detection
is a finding at the alerting line. `--logs` instead writes the half as log files
(`workers.devsets.nab`) and replays them with `logwarden eval`, the whole pipeline, and
takes its stored anomalies ("combined"); that takes minutes per series on a small machine.

The windowed Gaussian scores each value by |z| against the mean and std of the day
before it; it is reported at its best threshold in hindsight on the scored half and at
the threshold that was best on the other half.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence

from pipeline import nab
from pipeline.detectors.base import MinedBatch
from pipeline.detectors.series import NumericSeriesDetector
from pipeline.entry import LogEntry, Severity
from pipeline.scoring import ScoringPolicy
from tests.benchmarks import nab_series as ns
from tests.pipeline.detectors.factory import STREAM, mined
from workers.devsets.nab import gauge_text

Shape = Callable[[str, int, float], LogEntry]


def gauge_line(name: str, at_ns: int, value: float) -> LogEntry:
    return _entry(gauge_text(name, value), at_ns)


def request_line(name: str, at_ns: int, value: float) -> LogEntry:
    return _entry("GET /api/v1/status", at_ns, http_status=200, http_latency_s=value / 1000)


def _entry(message: str, at_ns: int, **fields: object) -> LogEntry:
    return LogEntry(
        insert_id=str(at_ns),
        timestamp_ns=at_ns,
        severity=Severity.INFO,
        message=message,
        project=STREAM.project,
        service=STREAM.service,
        resource_type=STREAM.resource_type,
        size=len(message),
        **fields,  # type: ignore[arg-type]
    )


def _template(message: str) -> str:
    return message.split("=", 1)[0] + "=<*>" if "=" in message else message


def detections(series: ns.LabeledSeries, shape: Shape) -> frozenset[int]:
    """The rows where the detector's finding reaches the alerting line."""
    detector = NumericSeriesDetector()
    line = ScoringPolicy().anomaly_threshold
    state = detector.initial_state()
    found = set()
    for i, (at_ns, value) in enumerate(zip(series.times, series.values, strict=True)):
        batch: MinedBatch = mined([shape(series.name, at_ns, value)], _template)
        findings, state = detector.detect(batch, state)
        if any(f.score >= line for f in findings):
            found.add(i)
    return frozenset(found)


def logwarden(series: Sequence[ns.LabeledSeries], shape: Shape) -> nab.CorpusScore:
    return nab.score_corpus(s.scored(detections(s, shape)) for s in series)


def replayed(half: str, shape: str) -> dict[str, float]:
    """`logwarden eval` on the half written as logs: its NAB scores per source."""
    with tempfile.TemporaryDirectory(prefix="logwarden-nab-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "workers.devsets.nab", "--nab", str(ns.NAB), "--out", tmp,
             "--half", half],
            check=True, capture_output=True,
        )  # fmt: skip
        out = subprocess.run(
            [sys.executable, "-m", "workers.cli", "eval", f"{tmp}/nab-{half}-{shape}.jsonl.gz",
             "--labels", f"{tmp}/nab-{half}.labels.csv", "--json"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    scores = json.loads(out.stdout)["nab"]
    return {source: s["score"] for source, s in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m tests.benchmarks.nab", description=__doc__)
    parser.add_argument("--half", choices=("held-out", "tune"), default="held-out")
    parser.add_argument("--logs", action="store_true", help="replay as logs through eval")
    args = parser.parse_args(argv)
    tune, held = ns.split(ns.load())
    scored, other = (held, tune) if args.half == "held-out" else (tune, held)
    windows = sum(len(s.windows) for s in scored)
    print(f"NAB, {args.half} half: {len(scored)} series, {windows} windows")
    rows = []
    if args.logs:
        for shape in ("gauges", "requests"):
            combined = replayed(args.half, shape)["combined"]
            rows.append((f"Logwarden, logwarden eval ({shape})", combined))
    else:
        for label, shape in (("name=value lines", gauge_line), ("request latency", request_line)):
            rows.append((f"Logwarden ({label})", logwarden(scored, shape).normalized()))
    sweep = ns.sweep_gaussian(scored, ns.GAUSSIAN_THRESHOLDS)
    best_z, best = max(sweep, key=lambda r: r[1])
    other_z, _ = max(ns.sweep_gaussian(other, ns.GAUSSIAN_THRESHOLDS), key=lambda r: r[1])
    at_other = dict(sweep)[other_z]
    rows.append((f"windowed Gaussian, best threshold in hindsight (|z| >= {best_z})", best))
    rows.append((f"windowed Gaussian, threshold tuned on the other half (|z| >= {other_z})",
                 at_other))  # fmt: skip
    rows.append(("null (detects nothing)", 0.0))
    for label, value in rows:
        print(f"  {label:<72}{value:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
