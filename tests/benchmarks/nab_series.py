"""NAB series as read from `../shared/data/nab`, the fixed tune / held-out split, and the
windowed-Gaussian baseline (Numenta Anomaly Benchmark: Lavin & Ahmad, ICMLA 2015, MIT
licence)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline import nab

NAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nab"
DAY_NS = 24 * 3600 * 10**9


@dataclass(frozen=True, slots=True)
class LabeledSeries:
    name: str  # folder/file.csv, as in windows.json
    times: tuple[int, ...]
    values: tuple[float, ...]
    windows: tuple[tuple[int, int], ...]

    def scored(self, detections: Sequence[int] | frozenset[int]) -> nab.Series:
        return nab.Series(self.name, self.times, self.windows, frozenset(detections))


def nab_time(text: str) -> int:
    """NAB's `2014-02-14 14:30:00[.000000]`, read as UTC."""
    stamp = datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 10**9 + stamp.microsecond * 1000


def load(root: Path = NAB) -> list[LabeledSeries]:
    """Every series that `windows.json` names, sorted by name."""
    windows = json.loads((root / "windows.json").read_text(encoding="utf-8"))
    found = []
    for name in sorted(windows):
        with (root / name).open(encoding="utf-8", newline="") as handle:
            rows = [(nab_time(r["timestamp"]), float(r["value"])) for r in csv.DictReader(handle)]
        spans = tuple((nab_time(a), nab_time(b)) for a, b in windows[name])
        found.append(
            LabeledSeries(name, tuple(t for t, _ in rows), tuple(v for _, v in rows), spans)
        )
    return found


def split(series: Sequence[LabeledSeries]) -> tuple[list[LabeledSeries], list[LabeledSeries]]:
    """The fixed rule, chosen before any tuning: sorted by name, even positions tune,
    odd positions are held out."""
    ordered = sorted(series, key=lambda s: s.name)
    return ordered[0::2], ordered[1::2]


def gaussian_z(series: LabeledSeries, span_ns: int = DAY_NS) -> list[float]:
    """|z| of each value against the mean and std of the values of the day before it
    (the windowed Gaussian; 0 until two values are seen)."""
    out: list[float] = []
    lo = 0
    total = square = 0.0
    for i, (t, v) in enumerate(zip(series.times, series.values, strict=True)):
        while series.times[lo] < t - span_ns:
            total -= series.values[lo]
            square -= series.values[lo] ** 2
            lo += 1
        count = i - lo
        if count >= 2:
            mean = total / count
            std = math.sqrt(max(square / count - mean * mean, 0.0))
            out.append(abs(v - mean) / std if std > 0 else (0.0 if v == mean else math.inf))
        else:
            out.append(0.0)
        total += v
        square += v * v
    return out


def gaussian_at(zs: Sequence[Sequence[float]], threshold: float) -> list[frozenset[int]]:
    return [frozenset(i for i, z in enumerate(z_row) if z >= threshold) for z_row in zs]


def sweep_gaussian(
    series: Sequence[LabeledSeries], thresholds: Sequence[float]
) -> list[tuple[float, float]]:
    """(threshold on |z|, normalized NAB score) for each threshold."""
    zs = [gaussian_z(s) for s in series]
    results = []
    for threshold in thresholds:
        detections = gaussian_at(zs, threshold)
        corpus = nab.score_corpus(s.scored(d) for s, d in zip(series, detections, strict=True))
        results.append((threshold, corpus.normalized()))
    return results


GAUSSIAN_THRESHOLDS = tuple(round(2.0 + 0.25 * i, 2) for i in range(41))  # |z| 2 .. 12
