"""Per-line labels of the development sets, made from their incidents.

    python -m workers.devsets.line_labels [--only NAME]

Writes `<name>.lines.txt` beside each set: line n is `1` when line n of the set is an
entry of an incident's service logged inside that incident (or an entry labeled
`logwarden.dev/anomaly: "true"`), else `0`. An incident whose service logs nothing
during it (a silence, the quiet part of a drop) marks no line: line windows cannot see
what was not logged; the incident windows of `eval --labels` do.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline import evaluation as ev
from pipeline.entry import LogEntry
from pipeline.parsing import iter_numbered_lines
from workers import devsets
from workers.evaluate import ANOMALY_LABEL, read_labels


def lines_path(name: str) -> Path:
    """The per-line labels of set `name` (one 0/1 per line of its data)."""
    return devsets.DATA / f"{name}.lines.txt"


def line_labels(data: Path, incidents: Sequence[ev.Incident]) -> str:
    """One `0`/`1` per line of `data` (gzipped JSON lines or text)."""
    labels: list[str] = []
    with gzip.open(data, "rb") if data.suffix == ".gz" else data.open("rb") as stream:
        numbered = iter_numbered_lines(
            stream, source_name=data.name, project="", service=data.name, now_ns=0  # type: ignore[arg-type]
        )
        for lineno, item in numbered:
            labels += ["0"] * (lineno - 1 - len(labels))  # blank lines before it
            labels.append("1" if isinstance(item, LogEntry) and _inside(item, incidents) else "0")
    with gzip.open(data, "rb") if data.suffix == ".gz" else data.open("rb") as stream:
        total = sum(1 for _ in stream)
    labels += ["0"] * (total - len(labels))
    return "".join(f"{label}\n" for label in labels)


def _inside(entry: LogEntry, incidents: Sequence[ev.Incident]) -> bool:
    if entry.labels.get(ANOMALY_LABEL) == "true":
        return True
    at = entry.timestamp_ns
    return any(i.overlaps(entry.service, at, at) for i in incidents)


def write_line_labels(name: str) -> Path:
    path = lines_path(name)
    incidents = read_labels(devsets.labels_path(name))
    path.write_text(line_labels(devsets.data_path(name), incidents), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m workers.devsets.line_labels", description=__doc__)
    parser.add_argument("--only", action="append", help="only this set (repeatable)")
    args = parser.parse_args(argv)
    for name in args.only or devsets.set_names():
        path = write_line_labels(name)
        ones = path.read_text(encoding="utf-8").count("1")
        print(f"wrote {path} ({ones:,} lines labeled 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
