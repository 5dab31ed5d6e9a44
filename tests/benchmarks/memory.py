"""Benchmark: does a long run's memory stay flat? RSS after 1M and after 10M entries.

    python -m tests.benchmarks.memory [--entries 10000000] [--first 1000000] [--whole]

Runs the dense workload of `make bench` (Loghub lines of HDFS, Zookeeper, OpenSSH and
Spark as four services, batches of 500) through `BatchProcessor.process`: the template
miner, every detector, scoring, and detector state saved and read back through the
in-memory state store after each batch, as the embedded run does. What is left out is
the database: the store here records nothing (the whole path, SQLite included, runs
about ten times slower, and SQLite keeps its rows on disk, not in the process), and the
entries are built as LogEntry objects rather than parsed from JSON.

Prints RSS (VmRSS) after every `--first` entries, and the ratio of the last reading to
the first.
Template tables, the miner's line caches and per-stream detector state are bounded, so
once they fill, RSS must stay within 10 % of the first reading.

`--whole` measures the whole path instead: the real `logwarden run --from -` as a child
process, its stdin fed the dense workload's JSON lines as they are made (never held in
memory), SQLite and the alerts file in a temporary directory. After every `--first`
lines written (the pipe holds back the writer, so the child has read all but a few
KB of them) it reads the child's VmRSS and CPU time and the database's size on disk.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import count
from pathlib import Path
from typing import Any, cast

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity
from pipeline.state import InMemoryStateStore
from pipeline.storage import BatchResult, Store
from tests.benchmarks.embedded import LOGHUB, START_NS, SYSTEMS, dense_lines

BATCH = 500


class RecordingNothing:
    """The parts of `Store` that `BatchProcessor.process` calls, keeping nothing."""

    def known_entries(
        self, delivery_ids: Collection[str], insert_keys: Collection[str]
    ) -> tuple[set[str], set[str]]:
        return set(), set()

    def record_batch(self, *args: Any, **kwargs: Any) -> BatchResult:
        return BatchResult(already_recorded=False)


def dense_batches(total: int, loghub: Path = LOGHUB) -> Iterator[Batch]:
    """`total` entries as batches of 500, the four services in turn, each at its own rate."""
    streams = []
    for system, rate in zip(SYSTEMS, (1100, 800, 1500, 950), strict=True):
        raw = (loghub / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
        streams.append((system.lower(), [x for x in raw if x.strip()], int(1e9 / rate)))
    ids = count()
    made = 0
    for turn in count():
        for service, lines, step_ns in streams:
            if made >= total:
                return
            size = min(BATCH, total - made)
            first = turn * BATCH
            entries = tuple(
                _entry(service, lines[(first + i) % len(lines)], START_NS + (first + i) * step_ns,
                       next(ids))
                for i in range(size)
            )
            made += size
            yield Batch(entries[0].stream_key, entries)


def _entry(service: str, text: str, at_ns: int, serial: int) -> LogEntry:
    severity = Severity.ERROR if "ERROR" in text or "FATAL" in text else Severity.INFO
    return LogEntry(
        insert_id=f"{serial:016x}", timestamp_ns=at_ns, severity=severity, message=text,
        project="acme-prod", service=service, resource_type="k8s_container",
        delivery_id=f"bench:{serial}", size=len(text) + 200,
    )


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def whole(total: int, every: int, loghub: Path) -> None:
    """`logwarden run --from -` fed the dense workload; its RSS after every `every` lines."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "whole.db"
        env = os.environ | {"LOGWARDEN_DATABASE_URL": f"sqlite:///{db}",
                            "LOGWARDEN_CHANNELS": '["file"]',
                            "LOGWARDEN_ALERTS_FILE": str(Path(tmp) / "alerts.jsonl")}
        logwarden = Path(sys.executable).with_name("logwarden")
        child = subprocess.Popen([logwarden, "run", "--from", "-"], stdin=subprocess.PIPE,
                                 env=env)
        assert child.stdin is not None
        print("| entries fed | RSS MB | x RSS at first reading | database MB | CPU µs/entry |")
        print("| ---: | ---: | ---: | ---: | ---: |", flush=True)
        first_mb = 0.0
        for fed, line in enumerate(dense_lines(total, seed=7, loghub=loghub), 1):
            child.stdin.write(line.encode())
            if fed % every == 0:
                child.stdin.flush()
                mb = rss_mb(child.pid)
                first_mb = first_mb or mb
                on_disk = sum(f.stat().st_size for f in Path(tmp).glob("whole.db*")) / 2**20
                print(f"| {fed:,} | {mb:.1f} | {mb / first_mb:.3f} | {on_disk:,.0f} "
                      f"| {1e6 * cpu_s(child.pid) / fed:.0f} |", flush=True)
        child.stdin.close()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--first", type=int, default=1_000_000)
    parser.add_argument("--loghub", type=Path, default=LOGHUB)
    parser.add_argument("--whole", action="store_true",
                        help="measure `logwarden run` (JSON, SQLite, alerts) as a child process")
    args = parser.parse_args()
    if args.whole:
        whole(args.entries, args.first, args.loghub)
        return
    from workers.runtime import build_processor
    from workers.settings import Settings

    store = cast(Store, RecordingNothing())
    processor = build_processor(Settings(), InMemoryStateStore(), store)
    readings: list[tuple[int, float, float]] = []
    done, started = 0, time.process_time()
    for batch in dense_batches(args.entries, args.loghub):
        processor.process(batch)
        done += len(batch.entries)
        if done % args.first == 0 or done == args.entries:
            gc.collect()
            readings.append((done, rss_mb(), time.process_time() - started))
            print(f"{done:>12,} entries  RSS {readings[-1][1]:7.1f} MB  "
                  f"{1e6 * readings[-1][2] / done:6.1f} µs/entry (CPU)", flush=True)
    _report(readings, processor.miner.templates(), processor.state)


def _report(readings: Sequence[tuple[int, float, float]], templates: Sequence[object],
            state: object) -> None:
    (first, first_mb, _), (last, last_mb, _) = readings[0], readings[-1]
    states = cast(Mapping[str, tuple[bytes, Any]], getattr(state, "_values", {}))
    state_kb = sum(len(value) for value, _ in states.values()) / 1024
    print(f"\nRSS after {last:,} entries is {last_mb / first_mb:.3f}x RSS after {first:,} "
          f"({first_mb:.1f} -> {last_mb:.1f} MB); templates held {len(templates)}, "
          f"detector states {len(states)} ({state_kb:,.0f} KB)")


if __name__ == "__main__":
    main()
