"""Writes Numenta Anomaly Benchmark series as Cloud Logging entries, for `logwarden eval`.

    python -m workers.devsets.nab [--nab DIR] [--out DIR] [--half tune|held-out|all]

Each series becomes one service that logs one line per point, at the series' own
timestamps, in two shapes: a request log (`nab-<half>-requests.jsonl.gz`, the value as
`httpRequest.latency` in milliseconds) and a gauge line (`nab-<half>-gauges.jsonl.gz`,
`textPayload` `name=value`). Its labeled windows are the incidents
(`nab-<half>.labels.csv`). Lines of all series are merged in time order.

The series come from NAB (https://github.com/numenta/NAB, MIT licence; Lavin & Ahmad,
"Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly Benchmark",
IEEE ICMLA 2015). The split is fixed: sorted by name, even positions are the tuning
half, odd positions the held-out half.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import heapq
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

NAB = Path("../shared/data/nab")
PROJECT = "nab-bench"
HALVES = ("tune", "held-out", "all")


def series_names(root: Path, half: str) -> list[str]:
    """The series of `half` (names as in `windows.json`, e.g. `realAWSCloudwatch/x.csv`)."""
    names = sorted(json.loads((root / "windows.json").read_text(encoding="utf-8")))
    return {"tune": names[0::2], "held-out": names[1::2], "all": names}[half]


def service_of(name: str) -> str:
    """`realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv` -> `ec2-cpu-utilization-24ae8d`."""
    stem = Path(name).stem.lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:60]


def metric_of(name: str) -> str:
    return service_of(name).replace("-", "_")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def _points(root: Path, name: str) -> Iterator[tuple[datetime, str, float]]:
    with (root / name).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield _utc(row["timestamp"]), name, float(row["value"])


def request_entry(name: str, at: datetime, value: float) -> dict[str, object]:
    service = service_of(name)
    return {
        "insertId": _insert_id("req", name, at),
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "severity": "INFO",
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"project_id": PROJECT, "service_name": service, "location": "us-east1"},
        },
        "httpRequest": {
            "requestMethod": "GET",
            "requestUrl": f"https://{service}.example.com/api/v1/status",
            "status": 200,
            "latency": f"{max(value, 0.0) / 1000:.9f}s",
        },
    }


def gauge_entry(name: str, at: datetime, value: float) -> dict[str, object]:
    service = service_of(name)
    return {
        "insertId": _insert_id("gauge", name, at),
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "severity": "INFO",
        "logName": f"projects/{PROJECT}/logs/metrics",
        "resource": {
            "type": "gce_instance",
            "labels": {"project_id": PROJECT, "instance_id": service, "zone": "us-east1-b"},
        },
        "labels": {"service": service},
        "textPayload": gauge_text(name, value),
    }


def gauge_text(name: str, value: float) -> str:
    """`cpu_utilization=41.2`: plain decimals (a logger rarely writes 1.2e+06)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{metric_of(name)}={text or '0'}"


def _insert_id(shape: str, name: str, at: datetime) -> str:
    return hashlib.blake2b(f"{shape}|{name}|{at.isoformat()}".encode(), digest_size=10).hexdigest()


def labels_csv(root: Path, names: list[str]) -> str:
    windows = json.loads((root / "windows.json").read_text(encoding="utf-8"))
    rows = ["service,start,end,kind"]
    for name in names:
        for start, end in windows[name]:
            begin, finish = _utc(start), _utc(end)
            rows.append(f"{service_of(name)},{_z(begin)},{_z(finish)},nab_window")
    return "\n".join(rows) + "\n"


def _z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_half(root: Path, out: Path, half: str) -> list[Path]:
    """Writes both shapes and the labels of `half` into `out`; returns the files."""
    names = series_names(root, half)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shape, render in (("requests", request_entry), ("gauges", gauge_entry)):
        merged = heapq.merge(*(_points(root, n) for n in names), key=lambda p: (p[0], p[1]))
        body = "".join(json.dumps(render(n, at, v), sort_keys=True) + "\n" for at, n, v in merged)
        path = out / f"nab-{half}-{shape}.jsonl.gz"
        path.write_bytes(gzip.compress(body.encode(), compresslevel=6, mtime=0))
        written.append(path)
    labels = out / f"nab-{half}.labels.csv"
    labels.write_text(labels_csv(root, names), encoding="utf-8")
    return [*written, labels]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m workers.devsets.nab", description=__doc__)
    parser.add_argument("--nab", type=Path, default=NAB, help="NAB's data folder")
    parser.add_argument("--out", type=Path, default=Path("nab-logs"), help="where to write")
    parser.add_argument("--half", choices=HALVES, default="held-out")
    args = parser.parse_args(argv)
    if not (args.nab / "windows.json").is_file():
        print(f"error: no windows.json under {args.nab}", file=sys.stderr)
        return 2
    for path in write_half(args.nab, args.out, args.half):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
