"""Benchmark: where the embedded dense run's database time goes, step by step.

    python -m tests.benchmarks.recording_steps [--lines 200000] [--seed 7] [--input FILE]

Runs the embedded run (`run_embedded`, SQLite) on the dense workload of `make bench` (or
on `--input`, its JSON lines), with the store's steps timed in process CPU time: the
known-entries read, the recording of each batch and, inside it, the ledger claim, the
outcome rows, the templates and each anomaly's steps, the commits, and the outbox claims
of the alerts' deliveries. Prints each step's CPU per entry and per batch and its calls.
The steps are found by name, so the script times an older checkout as well (run it with
that checkout first on PYTHONPATH); a step a checkout lacks is left out.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.benchmarks.embedded import run_into, write_dense

STEPS = (  # (module, attribute): an attribute "Class.method" is timed on the class
    ("pipeline.storage.repository", "Store.known_entries"),
    ("pipeline.storage.repository", "Store.record_batch"),
    ("pipeline.storage.batches", "_claim"),
    ("pipeline.storage.accounting", "add_outcomes"),
    ("pipeline.storage.batches", "_upsert_templates"),
    ("pipeline.storage.batches", "_suppressed"),
    ("pipeline.storage.batches", "_insert_anomaly"),
    ("pipeline.storage.incidents", "fold"),
    ("sqlalchemy.engine.default", "DefaultDialect.do_commit"),
    ("pipeline.storage.repository", "Store.claim_delivery"),
)
seconds: Counter[str] = Counter()
calls: Counter[str] = Counter()


def _timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return step(*args, **kwargs)
        finally:
            seconds[name] += time.process_time() - started
            calls[name] += 1

    return timed


def _time_steps() -> None:
    for module_name, attribute in STEPS:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        if hasattr(owner, name):
            setattr(owner, name, _timed(attribute, getattr(owner, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--input", type=Path, help="JSON lines to run instead")
    args = parser.parse_args()
    _time_steps()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.input or Path(tmp) / "dense.jsonl"
        if args.input is None:
            write_dense(source, args.lines, args.seed)
        summary, run = run_into(Path(tmp), source)
    entries, batches = summary.entries, max(summary.batches, 1)
    print(f"{entries:,} entries, {summary.batches} batches: {run:.2f} s of CPU, "
          f"{run / entries * 1e6:.1f} µs an entry (imports not included)")
    print("| step | µs an entry | ms a batch | calls |\n| --- | ---: | ---: | ---: |")
    for name, spent in seconds.most_common():
        print(f"| {name} | {spent / entries * 1e6:.2f} | {spent / batches * 1e3:.3f} "
              f"| {calls[name]} |")


if __name__ == "__main__":
    main()
