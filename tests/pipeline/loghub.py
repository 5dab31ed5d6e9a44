"""The hand-labelled Loghub samples beside the repository (`../shared/data/loghub`).

Each system folder holds `<System>_2k.log_structured.csv`: 2,000 lines with their
message (`Content`) and the id of their true template (`EventId`). When the folder is
missing, tests that need it fail under CI (the env var CI is set) and skip elsewhere.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).parents[2]
LOGHUB_DIR = REPO_ROOT.parent / "shared" / "data" / "loghub"


@dataclass(frozen=True, slots=True)
class LabelledLog:
    """One system's sample: messages and their true template ids, in log order."""

    system: str
    messages: tuple[str, ...]
    event_ids: tuple[str, ...]


def structured_files(root: Path = LOGHUB_DIR) -> list[Path]:
    """Every `*_structured.csv`, by system name; fails or skips when there are none."""
    files = sorted(root.glob("*/*_structured.csv"))
    if not files:
        reason = f"Loghub samples not found: expected {root}/*/*_structured.csv"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
        pytest.skip(reason)
    return files


def load(path: Path) -> LabelledLog:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return LabelledLog(
        system=path.parent.name,
        messages=tuple(row["Content"] for row in rows),
        event_ids=tuple(row["EventId"] for row in rows),
    )


def load_all(root: Path = LOGHUB_DIR) -> list[LabelledLog]:
    return [load(path) for path in structured_files(root)]
