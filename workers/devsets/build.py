"""Builds the labeled development sets from Loghub's 2k samples.

    python -m workers.devsets.build [--loghub DIR] [--out DIR] [--only NAME]

Writes `<name>.jsonl.gz`, `<name>.labels.csv` and `<name>.lines.txt` (one 0/1 label per
line, made from the incidents) per set. Deterministic: the same Loghub
files give the same bytes (fixed seeds, gzip with mtime 0).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from workers.devsets import DATA
from workers.devsets.line_labels import line_labels
from workers.devsets.sets import SETS
from workers.evaluate import read_labels
from workers.sample.loghub import builder_arguments


def write_set(name: str, loghub: Path, out: Path) -> tuple[Path, int, int]:
    """Builds set `name` into `out`; returns the data file, its entries and incidents.

    Raises FileNotFoundError when a Loghub sample is missing under `loghub`.
    """
    lines, labels = SETS[name](loghub).build()
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{name}.jsonl.gz"
    data.write_bytes(gzip.compress(lines, compresslevel=9, mtime=0))
    (out / f"{name}.labels.csv").write_text(labels, encoding="utf-8")
    incidents = read_labels(out / f"{name}.labels.csv")
    (out / f"{name}.lines.txt").write_text(line_labels(data, incidents), encoding="utf-8")
    return data, lines.count(b"\n"), labels.count("\n") - 1


def main(argv: list[str] | None = None) -> int:
    parser = builder_arguments("python -m workers.devsets.build", __doc__)
    parser.add_argument("--out", type=Path, default=DATA, help="where to write the sets")
    parser.add_argument(
        "--only", choices=sorted(SETS), action="append", help="build only this set (repeatable)"
    )
    args = parser.parse_args(argv)
    for name in args.only or list(SETS):
        try:
            data, entries, incidents = write_set(name, args.loghub, args.out)
        except FileNotFoundError as exc:
            print(f"error: Loghub sample not found: {exc.filename}", file=sys.stderr)
            return 2
        size = data.stat().st_size
        print(f"wrote {data} ({size:,} bytes, {entries:,} entries, {incidents} incidents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
