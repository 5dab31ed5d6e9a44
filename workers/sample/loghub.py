"""Reading Loghub's structured 2k samples (https://github.com/logpai/loghub)."""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CLOCK = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?")


def default_loghub_dir() -> Path:
    """`../shared/data/loghub` next to the repository root."""
    return Path(__file__).parents[2].parent / "shared/data/loghub"


def builder_arguments(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The command line every script that builds logs from Loghub starts with."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--loghub",
        type=Path,
        default=default_loghub_dir(),
        help="folder with <System>/<System>_2k.log_structured.csv",
    )
    return parser


@dataclass(frozen=True, slots=True)
class LoghubLine:
    """One row of `<System>_2k.log_structured.csv`; `columns` keeps every field as read."""

    system: str
    row: int  # 0-based, in file order
    columns: dict[str, str] = field(hash=False)

    @property
    def content(self) -> str:
        return self.columns["Content"]

    @property
    def event_id(self) -> str:
        return self.columns["EventId"]

    @property
    def level(self) -> str:
        return self.columns.get("Level", "")

    @property
    def component(self) -> str:
        return self.columns.get("Component", "")

    def get(self, column: str) -> str:
        return self.columns.get(column, "")

    def clock_seconds(self) -> float:
        """Seconds since midnight from the `Time` column ("18:01:47,978", "06:55:46")."""
        match = _CLOCK.search(self.columns["Time"])
        if match is None:
            raise ValueError(f"{self.system} row {self.row}: no time in {self.columns['Time']!r}")
        hours, minutes, seconds, fraction = match.groups()
        frac = float(f"0.{fraction}") if fraction else 0.0
        return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + frac


def read_system(loghub: Path, system: str) -> list[LoghubLine]:
    """All rows of one system's structured sample, in file order.

    Raises FileNotFoundError with the path when the sample is not there.
    """
    path = loghub / system / f"{system}_2k.log_structured.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [LoghubLine(system, i, dict(row)) for i, row in enumerate(csv.DictReader(handle))]


def made_up(system: str, level: str, component: str, content: str) -> LoghubLine:
    """A line the system writes but the 2k sample lacks (row -1), shaped like a real row."""
    return LoghubLine(
        system, -1, {"Level": level, "Component": component, "Content": content, "EventId": ""}
    )


def offsets_ns(lines: Sequence[LoghubLine]) -> list[int]:
    """Each line's time after the first one's, in nanoseconds (same day assumed)."""
    if not lines:
        return []
    first = lines[0].clock_seconds()
    return [round((line.clock_seconds() - first) * 1e9) for line in lines]
