"""Benchmark: the embedded detect path against "JSON decode, then Drain3", in one run.

    python -m tests.benchmarks.embedded [--lines 200000] [--seed 7] [--rounds 3]

Runs, each in its own subprocess (so start-up imports and peak RSS are each path's own),
every path once a round, in an order that turns by one path each round:

- the embedded run (`run_embedded`, SQLite) on a dense workload: Loghub lines from four
  systems replayed as four services at 800-1,500 lines a second of log time, so
  batches fill to their count limit;
- the embedded run on the bundled sample (thin streams: small batches);
- the naive baseline on the dense workload: JSON decode, then stock Drain3 with number
  and IP masking, one miner per stream;
- the ceiling on the dense workload: bare read and JSON decode;
- the naive baseline and the dense run on an input of no lines: their start-up alone,
  which a long-running service pays once; the per-entry cost after it is printed too.

Prints, of each path's median run (by CPU per entry), entries/s, the ratio to the naive
baseline's median run, µs per entry, ms per batch and peak RSS; then each round's ratios,
each against the naive run of its own round, which show how far the machine moved.
For the embedded runs it also splits the time of `BatchProcessor.process` into
a fixed cost per batch and a cost per entry: the intercept and slope of a least-squares
line through each batch's CPU time against its number of entries (the bundled sample's
batches range from one entry to hundreds; the dense workload's are all 500 entries, so
no line can be drawn through them). Importing scikit-learn and SciPy, which the first
forest fit of a run did while the trees were grown with scikit-learn (reading a forest
pickled by an older version still does), is timed on its own: once a process, not once a
batch, it is given apart, and the line drawn again without it. `python -m
tests.benchmarks.memory` measures RSS over a long run. Times include each path's imports
and set-up, and are the process's CPU time (user + system): on a shared
machine, wall time measures the neighbours too. Wall-clock entries/s is printed beside it.

Logwarden's own modules are compiled to bytecode first, as an installed package's are
(the paths' libraries come with theirs): without it, and with PYTHONDONTWRITEBYTECODE
set, every run would compile them from source again, about a quarter of a second that
no installed copy spends. `--no-compile` runs without compiling first, and says whether
PYTHONDONTWRITEBYTECODE is set.
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import heapq
import importlib.abc
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from pipeline.batch import Batch
    from pipeline.processing import BatchOutcome
    from workers.embedded import RunSummary

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO / ".." / "shared" / "data" / "loghub"
# What the paths import of the repository: its packages, and the benchmarks' own modules.
PACKAGES = ("alerting", "migrations", "observability", "pipeline", "workers", "tests/benchmarks")
SYSTEMS = ("HDFS", "Zookeeper", "OpenSSH", "Spark")
START_NS = 1_793_000_000 * 10**9
PATHS = ("naive", "ceiling", "dense", "sample")
# Each path's start-up alone: the same process on an input of no lines.
STARTUPS = {"naive start-up": "naive", "dense start-up": "dense"}


def write_dense(path: Path, lines: int, seed: int, loghub: Path = LOGHUB) -> None:
    with path.open("w") as out:
        out.writelines(dense_lines(lines, seed, loghub))


def dense_lines(lines: int, seed: int, loghub: Path = LOGHUB) -> Iterator[str]:
    """Four services, each at its own steady rate, cycling through its Loghub lines.

    Streamed in time order (each service's lines are, so a merge of the four is): a
    10M-line workload is never held in memory.
    """
    rng = Random(seed)
    streams = []
    for system in SYSTEMS:
        raw = (loghub / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
        rate = rng.uniform(800, 1500)
        streams.append(_service_lines(system.lower(), [x for x in raw if x.strip()], rate,
                                      lines // len(SYSTEMS), Random(rng.getrandbits(64))))
    for _, line in heapq.merge(*streams):
        yield line + "\n"


def _service_lines(service: str, raw: list[str], rate: float, count: int,
                   rng: Random) -> Iterator[tuple[int, str]]:
    step_ns = int(1e9 / rate)
    for i in range(count):
        # The jitter stays within a step, so each service's times only ever go up.
        ts = START_NS + i * step_ns + rng.randrange(step_ns)
        yield ts, _entry(service, raw[i % len(raw)], ts, rng)


def _entry(service: str, text: str, ts: int, rng: Random) -> str:
    seconds, nanos = divmod(ts, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    severity = "ERROR" if any(w in text for w in ("ERROR", "FATAL", "error")) else "INFO"
    return json.dumps({
        "insertId": f"{rng.getrandbits(64):016x}",
        "textPayload": text,
        "resource": {"type": "k8s_container", "labels": {
            "project_id": "acme-prod", "namespace_name": "bench", "container_name": service}},
        "timestamp": stamp,
        "severity": severity,
        "logName": "projects/acme-prod/logs/stdout",
    })


def _open(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _naive(path: Path) -> dict[str, float]:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()  # built in code: no drain3.ini is read
    config.profiling_enabled = False
    config.masking_instructions = [
        MaskingInstruction(r"\d{1,3}(\.\d{1,3}){3}(:\d+)?", "IP"),
        MaskingInstruction(r"(?<![A-Za-z0-9])[-+]?\d+(\.\d+)?(?![A-Za-z0-9])", "NUM"),
    ]
    miners: dict[str, TemplateMiner] = {}
    entries = 0
    with _open(path) as stream:
        for line in stream:
            entry = json.loads(line)
            key = json.dumps(entry.get("resource"), sort_keys=True)
            if (miner := miners.get(key)) is None:
                miner = miners[key] = TemplateMiner(config=config)
            miner.add_log_message(entry.get("textPayload") or json.dumps(entry.get("jsonPayload")))
            entries += 1
    templates = sum(len(miner.drain.clusters) for miner in miners.values())
    return {"entries": entries, "batches": 0, "templates": templates}


def _ceiling(path: Path) -> dict[str, float]:
    entries = 0
    with _open(path) as stream:
        for line in stream:
            json.loads(line)
            entries += 1
    return {"entries": entries, "batches": 0}


def run_into(workdir: Path, path: Path) -> tuple[RunSummary, float]:
    """`run_embedded` on `path` (JSON lines, gzipped or not), into a new SQLite database and
    alerts file in `workdir`, as every embedded benchmark runs it; with the CPU seconds the
    run took, its imports and settings apart."""
    from workers.embedded import run_embedded
    from workers.settings import Settings

    settings = Settings(database_url=f"sqlite:///{workdir}/bench.db", channels=["file"],
                        alerts_file=workdir / "alerts.jsonl")
    with _open(path) as stream:
        started = time.process_time()
        summary = run_embedded(stream, source_name="bench", settings=settings, progress=False)
        return summary, time.process_time() - started


def _embedded(path: Path) -> dict[str, float]:
    timings, imports = _time_each_batch()

    with tempfile.TemporaryDirectory() as tmp:
        summary, _ = run_into(Path(tmp), path)
    fixed_s, per_entry_s = _fit_line([(n, s) for n, s, _ in timings])
    apart_s, _ = _fit_line([(n, s - one_off) for n, s, one_off in timings])
    return {"entries": summary.entries, "batches": summary.batches,
            "templates": summary.templates, "fixed_ms": 1000 * fixed_s,
            "process_us": 1e6 * per_entry_s, "import_s": sum(imports),
            "fixed_apart_ms": 1000 * apart_s}


def _time_each_batch() -> tuple[list[tuple[int, float, float]], list[float]]:
    """Notes each batch's entry count, the CPU time `BatchProcessor.process` took and the
    part of it spent importing scikit-learn and SciPy (each import also in the second list)."""
    from pipeline.processing import BatchProcessor

    timings: list[tuple[int, float, float]] = []
    imports = _ImportTimer(("sklearn", "scipy"))
    sys.meta_path.insert(0, imports)
    process = BatchProcessor.process

    def timed(self: BatchProcessor, batch: Batch) -> BatchOutcome:
        before, started = len(imports.seconds), time.process_time()
        try:
            return process(self, batch)
        finally:
            spent = time.process_time() - started
            timings.append((len(batch.entries), spent, sum(imports.seconds[before:])))

    BatchProcessor.process = timed  # type: ignore[method-assign]
    return timings, imports.seconds


class _ImportTimer(importlib.abc.MetaPathFinder):
    """Times the modules of the named packages as they are executed, the outermost only
    (SciPy's inside scikit-learn's counts once). Any version of the code: no names of ours."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages
        self.seconds: list[float] = []  # one per outermost module executed
        self._depth = 0

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module = self._timed(spec.loader.exec_module)  # type: ignore[method-assign]
        return spec

    def _timed(self, execute: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
        def exec_module(module: ModuleType) -> None:
            self._depth += 1
            started = time.process_time()
            try:
                execute(module)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds.append(time.process_time() - started)

        return exec_module


def _fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line; NaN when every x is the same."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n if n else 0.0
    mean_y = sum(y for _, y in points) / n if n else 0.0
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return float("nan"), float("nan")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return mean_y - slope * mean_x, slope


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(kind: str, path: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    work = {"naive": _naive, "ceiling": _ceiling}.get(STARTUPS.get(kind, kind), _embedded)
    result = work(path)
    result["wall"] = time.perf_counter() - started
    result["seconds"] = time.process_time() - cpu
    result["rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _measure(kind: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.embedded", "--child", kind, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="dense workload size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--loghub", type=Path, default=LOGHUB, help="the Loghub samples")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not compile Logwarden's modules to bytecode first")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of every path; the table shows each path's median run")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    if not args.no_compile:
        compileall.compile_dir(REPO / "tests", maxlevels=0, quiet=1)
        for package in PACKAGES:  # into each package's __pycache__, as Python itself would
            compileall.compile_dir(REPO / package, quiet=1)
    from workers import sample

    with tempfile.TemporaryDirectory() as tmp:
        dense, empty = Path(tmp) / "dense.jsonl", Path(tmp) / "empty.jsonl"
        write_dense(dense, args.lines, args.seed, args.loghub)
        empty.touch()
        inputs = {"naive": dense, "ceiling": dense, "dense": dense,
                  "sample": sample.sample_path()} | dict.fromkeys(STARTUPS, empty)
        kinds = (*PATHS, *STARTUPS)
        rounds = []
        for n in range(max(1, args.rounds)):
            order = kinds[n % len(kinds):] + kinds[: n % len(kinds)]
            rounds.append({kind: _measure(kind, inputs[kind]) for kind in order})
    _report(rounds, args)


NAMES = {
    "naive": "naive: JSON decode, then Drain3 (masking), a miner per stream",
    "ceiling": "ceiling: bare read + JSON decode",
    "dense": "logwarden embedded run, dense workload",
    "sample": "logwarden embedded run, bundled sample",
}


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run whose CPU per entry is the median (the lower middle of an even count)."""
    ordered = sorted(runs, key=_rate, reverse=True)  # fastest first
    return ordered[(len(ordered) - 1) // 2]


def _report(rounds: list[dict[str, dict[str, float]]], args: argparse.Namespace) -> None:
    results = {kind: _median_run([r[kind] for r in rounds]) for kind in PATHS}
    base = _rate(results["naive"])
    print(f"dense workload: {args.lines:,} lines, {len(SYSTEMS)} services "
          f"({', '.join(SYSTEMS)}), seed {args.seed}; each path in its own process")
    compiled = ("not compiled first (PYTHONDONTWRITEBYTECODE "
                f"{'set' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'not set'})"
                if args.no_compile else "compiled to bytecode first")
    print(f"Logwarden's modules: {compiled}\n")
    print("| path | entries | entries/s | x naive | µs/entry | ms/batch | fixed ms/batch "
          "| sklearn import s | fixed ms/batch, import apart | process µs/entry | peak RSS MB "
          "| entries/s (wall) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in PATHS:
        r = results[kind]
        rate = _rate(r)
        per_batch = f"{1000 * r['seconds'] / r['batches']:.2f}" if r["batches"] else "-"
        print(f"| {NAMES[kind]} | {int(r['entries']):,} | {rate:,.0f} | {rate / base:.3f} "
              f"| {1e6 * r['seconds'] / r['entries']:.1f} | {per_batch} "
              f"| {_shown(r.get('fixed_ms'), 2)} | {_shown(r.get('import_s'), 2)} "
              f"| {_shown(r.get('fixed_apart_ms'), 2)} | {_shown(r.get('process_us'), 1)} "
              f"| {r['rss_mb']:.0f} | {r['entries'] / r['wall']:,.0f} |")
    print(f"\n{len(rounds)} round(s), every path once a round; the table shows each path's "
          "median run. x naive round by round (against that round's naive run):")
    for kind in PATHS[1:]:
        ratios = ", ".join(f"{_ratio(r, kind):.3f}" for r in rounds)
        print(f"  {NAMES[kind]}: {ratios}")
    _report_startup(rounds, results)


def _report_startup(rounds: list[dict[str, dict[str, float]]],
                    results: dict[str, dict[str, float]]) -> None:
    """Start-up (imports, the database, the detectors' set-up) apart from the per-entry
    cost: a long-running service pays it once, a short run pays it on every entry."""
    startup = {kind: sorted(r[kind]["seconds"] for r in rounds)[(len(rounds) - 1) // 2]
               for kind in STARTUPS}
    print("\nstart-up, each path on an input of no lines (median CPU s): "
          + ", ".join(f"{kind} {seconds:.2f}" for kind, seconds in startup.items()))
    # A run that imports scikit-learn (to read an old pickled forest) pays it once.
    after = {path: (results[path]["seconds"] - startup[kind] - results[path].get("import_s", 0))
             / results[path]["entries"] for kind, path in STARTUPS.items()}
    print(f"after start-up and the scikit-learn import: dense {1e6 * after['dense']:.1f} "
          f"µs/entry, naive {1e6 * after['naive']:.1f} µs/entry: "
          f"{after['naive'] / after['dense']:.3f} x naive")


def _ratio(round_: dict[str, dict[str, float]], kind: str) -> float:
    return _rate(round_[kind]) / _rate(round_["naive"])


def _rate(run: dict[str, float]) -> float:
    """Entries a second of the run's CPU time."""
    return run["entries"] / run["seconds"]


def _shown(value: float | None, digits: int) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"  # NaN: no line


if __name__ == "__main__":
    main()
