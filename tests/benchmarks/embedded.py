"""Benchmark: the embedded run on the bundled sample against Drain3 alone on the same lines.

    python -m tests.benchmarks.embedded [--repeat 3]

Prints entries/s for each stage measured in this run and each as a ratio of plain
Drain3's rate (the baseline), so figures from different machines compare.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from drain3 import TemplateMiner as Drain3Miner
from drain3.template_miner_config import TemplateMinerConfig

from pipeline.entry import LogEntry
from pipeline.parsing import parse_entry
from pipeline.templates import TemplateMiner
from workers import sample
from workers.embedded import run_embedded
from workers.settings import Settings


def _raw_lines() -> list[bytes]:
    with gzip.open(sample.sample_path(), "rb") as stream:
        return stream.read().splitlines()


def _best_rate(count: int, work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def _plain_drain3(messages: list[str]) -> None:
    config = TemplateMinerConfig()  # built in code: no drain3.ini is read
    config.profiling_enabled = False
    miner = Drain3Miner(config=config)
    for message in messages:
        miner.add_log_message(message)


def _embedded() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", channels=["file"],
                            alerts_file=Path(tmp) / "alerts.jsonl")
        with gzip.open(sample.sample_path(), "rb") as stream:
            run_embedded(stream, source_name="sample", settings=settings, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lines = _raw_lines()
    entries = [e for e in (parse_entry(line) for line in lines) if isinstance(e, LogEntry)]
    messages = [e.message for e in entries]
    stamped = [(e.message, e.timestamp_ns) for e in entries]
    rates = {
        "Drain3 alone (baseline)": _best_rate(
            len(messages), lambda: _plain_drain3(messages), args.repeat
        ),
        "parsing": _best_rate(len(lines), lambda: [parse_entry(x) for x in lines], args.repeat),
        "template mining (masking + Drain3)": _best_rate(
            len(stamped), lambda: TemplateMiner(20_000).mine_many(stamped), args.repeat
        ),
        "embedded run, end to end": _best_rate(len(lines), _embedded, args.repeat),
    }
    baseline = rates["Drain3 alone (baseline)"]
    print(f"{len(lines)} sample lines, {len(entries)} entries, best of {args.repeat}\n")
    print(f"{'stage':<38}{'entries/s':>12}{'x Drain3':>10}")
    for name, rate in rates.items():
        print(f"{name:<38}{rate:>12,.0f}{rate / baseline:>10.2f}")


if __name__ == "__main__":
    main()
