"""Benchmark: detection quality, tuned on some data and reported on other data.

    python -m tests.benchmarks.detection [--jobs 2] [--only dev|single|clean|thin]

In one run, next to the baseline rule ("error share above 10 % or at least 5 identical
error lines") scored on the same windows:

- **dev**: each development set (`workers/devsets/`) with its per-line labels, windows of
  20 lines, and its incident windows; the clean `quiet-day` set's false alerts per
  service-day.
- **single**: each development-set service that has an incident, alone (its first 3,000
  lines), replayed 3 s a line, over windows of 20 lines: one labeled stream at the pace
  of a slow service, where a batch is about 20 lines.
- **clean**: each Loghub system's 2k sample replayed as a stream, 3 s a line, with no
  incident: every alert there is counted. The systems no development set is built from
  (Android, HPC, Mac, Windows) are held out: nothing was tuned on them.
- **thin**: the same samples at their own timestamps (thin samples of months of logs).
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pipeline import evaluation as ev
from workers import devsets
from workers.devsets.line_labels import lines_path
from workers.evaluate import Evaluation, evaluate, read_labels
from workers.line_eval import read_line_labels
from workers.sample.loghub import default_loghub_dir
from workers.settings import Settings

WINDOW_LINES = 20
PACE_S = 3.0
# The Loghub systems the development sets are built from; the others are held out.
TUNED_ON = {"Apache", "HDFS", "Hadoop", "HealthApp", "Linux", "OpenSSH", "OpenStack",
            "Proxifier", "Spark", "Zookeeper"}  # fmt: skip


def _dev(name: str) -> tuple[str, Evaluation]:
    incidents = read_labels(devsets.labels_path(name))
    labels = read_line_labels(lines_path(name))
    result = evaluate(devsets.data_path(name), incidents, Settings(), progress=False,
                      line_labels=labels, window_lines=WINDOW_LINES)  # fmt: skip
    return name, result


def _single(args: tuple[str, str]) -> tuple[str, Evaluation]:
    name, service = args
    rows = gzip.decompress(devsets.data_path(name).read_bytes()).splitlines()
    labels = read_line_labels(lines_path(name))
    key = f'"{service}"'.encode()
    mine = [(row, label) for row, label in zip(rows, labels, strict=True) if key in row][:3000]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{service}.jsonl"
        path.write_bytes(b"\n".join(row for row, _ in mine) + b"\n")
        result = evaluate(path, [], Settings(), progress=False, pace_s=PACE_S,
                          line_labels=[label for _, label in mine], window_lines=WINDOW_LINES)
    return f"{name}/{service}", result  # fmt: skip


def _single_cases() -> list[tuple[str, str]]:
    return [
        (name, service)
        for name in devsets.set_names()
        for service in sorted({i.service for i in read_labels(devsets.labels_path(name))})
    ]


def single_table(results: list[tuple[str, Evaluation]]) -> list[str]:
    rows = [
        f"| service alone, {PACE_S:.0f} s a line | positive windows | Logwarden P / R / F1 "
        "| baseline P / R / F1 | Logwarden alerts |",
        "| --- | ---: | --- | --- | ---: |",
    ]
    for name, result in results:
        assert result.lines is not None
        ours, base = result.lines.scores[-2], result.lines.scores[-1]
        rows.append(f"| {name} | {result.lines.positive} of {result.lines.windows} | "
                    f"{_prf(ours)} | {_prf(base)} | {result.stored_alerts} |")  # fmt: skip
    return rows


def _loghub(args: tuple[str, float | None]) -> tuple[str, Evaluation]:
    system, pace = args
    log = default_loghub_dir() / system / f"{system}_2k.log"
    return system, evaluate(log, [], Settings(), progress=False, pace_s=pace)


def _score(result: Evaluation, source: str) -> ev.Score:
    return next(s for s in result.scores if s.source == source)


def dev_table(results: list[tuple[str, Evaluation]]) -> list[str]:
    rows = [
        f"| set | {WINDOW_LINES}-line windows: Logwarden P / R / F1 | baseline P / R / F1 "
        "| incident windows: Logwarden F1 | baseline F1 | false alerts / service-day "
        "(ours / baseline) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in results:
        assert result.lines is not None
        ours, base = result.lines.scores[-2], result.lines.scores[-1]
        comb, rule = _score(result, ev.COMBINED), _score(result, ev.BASELINE)
        rows.append(
            f"| {name} | {_prf(ours)} | {_prf(base)} | {comb.f1:.2f} | {rule.f1:.2f} | "
            f"{comb.false_alerts_per_service_day:.2f} / {rule.false_alerts_per_service_day:.2f} |"
        )
    return rows


def _prf(s: object) -> str:
    p, r, f = (getattr(s, k) for k in ("precision", "recall", "f1"))
    return f"{p:.2f} / {r:.2f} / **{f:.2f}**" if f else f"{p:.2f} / {r:.2f} / {f:.2f}"


def loghub_table(results: list[tuple[str, Evaluation]], title: str) -> list[str]:
    rows = [
        f"| system ({title}) | held out | Logwarden alerts | by type | baseline alerts |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    totals = Counter[str]()
    for system, result in results:
        kinds = Counter(a.summary.split(":")[0] for a in result.false_alerts
                        if a.source == ev.COMBINED)  # fmt: skip
        held = system not in TUNED_ON
        baseline = _score(result, ev.BASELINE).alerts
        totals.update({f"ours:{held}": result.stored_alerts, f"base:{held}": baseline})
        by_type = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "-"
        rows.append(f"| {system} | {'yes' if held else ''} | {result.stored_alerts} | "
                    f"{by_type} | {baseline} |")  # fmt: skip
    for held in (False, True):
        rows.append(f"| **total, {'held out' if held else 'tuned on'}** | | "
                    f"{totals[f'ours:{held}']} | | {totals[f'base:{held}']} |")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m tests.benchmarks.detection", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", choices=("dev", "single", "clean", "thin"), action="append")
    args = parser.parse_args(argv)
    parts = args.only or ["dev", "single", "clean", "thin"]
    systems = sorted(p.name for p in default_loghub_dir().iterdir() if p.is_dir())
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=spawn) as pool:
        if "dev" in parts:
            print("\n".join(dev_table(list(pool.map(_dev, devsets.set_names())))), "\n")
        if "single" in parts:
            print("\n".join(single_table(list(pool.map(_single, _single_cases())))), "\n")
        if "clean" in parts:
            clean = list(pool.map(_loghub, [(s, PACE_S) for s in systems]))
            print("\n".join(loghub_table(clean, f"{PACE_S:.0f} s a line")), "\n")
        if "thin" in parts:
            thin = list(pool.map(_loghub, [(s, None) for s in systems]))
            print("\n".join(loghub_table(thin, "own timestamps")), "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
