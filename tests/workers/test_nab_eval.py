"""NAB series written as logs (`workers.devsets.nab`) and scored by `logwarden eval` with
NAB's standard profile."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from pipeline.entry import LogEntry
from pipeline.parsing import parse_entry
from workers.cli import main
from workers.devsets.nab import write_half
from workers.evaluate import read_labels

START = datetime(2014, 2, 14, tzinfo=UTC)
POINTS = 300


def _nab_folder(root: Path) -> Path:
    """Two series of 300 five-minute points: one steps up at point 220 (its window), one
    stays level."""
    rng = random.Random(7)
    (root / "realTest").mkdir(parents=True)
    windows = {}
    for name, step_at in (("realTest/cpu_shift.csv", 220), ("realTest/cpu_level.csv", None)):
        rows = ["timestamp,value"]
        for i in range(POINTS):
            at = START + timedelta(minutes=5 * i)
            value = rng.gauss(40.0, 1.0) + (15.0 if step_at and i >= step_at else 0.0)
            rows.append(f"{at:%Y-%m-%d %H:%M:%S},{value:.3f}")
        (root / name).write_text("\n".join(rows) + "\n")
        window = []
        if step_at:
            begin, end = START + timedelta(minutes=5 * 205), START + timedelta(minutes=5 * 245)
            window = [[f"{begin:%Y-%m-%d %H:%M:%S}.000000", f"{end:%Y-%m-%d %H:%M:%S}.000000"]]
        windows[name] = window
    (root / "windows.json").write_text(json.dumps(windows))
    return root


def test_the_builder_writes_both_shapes_and_the_windows_as_incidents(tmp_path):
    files = write_half(_nab_folder(tmp_path / "nab"), tmp_path / "out", "all")
    requests, gauges, labels = files
    for path, field in ((requests, "httpRequest"), (gauges, "textPayload")):
        lines = gzip.decompress(path.read_bytes()).splitlines()
        assert len(lines) == 2 * POINTS
        assert all(isinstance(parse_entry(line), LogEntry) for line in lines)
        assert all(field in json.loads(line) for line in lines)
    first = _first(gauges)
    assert first.message.startswith("cpu_level=") or first.message.startswith("cpu_shift=")
    request = _first(requests)
    assert request.http_latency_s is not None and 0.03 < request.http_latency_s < 0.05
    incidents = read_labels(labels)
    assert [(i.service, i.kind) for i in incidents] == [("cpu-shift", "nab_window")]


def _first(path: Path) -> LogEntry:
    entry = parse_entry(gzip.decompress(path.read_bytes()).splitlines()[0])
    assert isinstance(entry, LogEntry)
    return entry


def test_eval_scores_the_series_with_nab(tmp_path):
    requests, gauges, labels = write_half(_nab_folder(tmp_path / "nab"), tmp_path / "out", "all")
    run = CliRunner().invoke(main, ["eval", str(gauges), "--labels", str(labels), "--json"])
    assert run.exit_code == 0, run.output
    scores = json.loads(run.output)["nab"]
    assert scores["numbers"]["windows"] == 1
    assert scores["numbers"]["detected"] == 1
    assert scores["numbers"]["false_positives"] == 0
    assert scores["numbers"]["score"] > 50
    assert scores["baseline"]["score"] == 0.0  # the error-share rule sees no errors
    text = CliRunner().invoke(main, ["eval", str(requests), "--labels", str(labels)])
    assert "NAB standard profile" in text.output
    assert "numbers" in text.output.split("NAB standard profile")[1]
