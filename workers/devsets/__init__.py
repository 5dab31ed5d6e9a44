"""Labeled development sets for `logwarden eval`: Cloud Logging entries built from real
Loghub lines, with incidents planted at known times and written down beside them.

`python -m workers.devsets.build` regenerates `data/`; README.md describes the sets and
the label format.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def data_path(name: str) -> Path:
    """The gzipped JSON lines of set `name`."""
    return DATA / f"{name}.jsonl.gz"


def labels_path(name: str) -> Path:
    """The incident labels of set `name` (CSV: service,start,end,kind)."""
    return DATA / f"{name}.labels.csv"


def set_names() -> list[str]:
    """The sets present in `data/`, sorted."""
    return sorted(p.name.removesuffix(".jsonl.gz") for p in DATA.glob("*.jsonl.gz"))
