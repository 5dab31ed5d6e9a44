"""Benchmark: workloads no setting was tuned on, next to "JSON decode, then Drain3".

    python -m tests.benchmarks.untuned [--lines 30000] [--seed 3] [--only NAME]

Each workload is a LogEntry file of `--lines` lines; each path runs in its own process,
as in `tests.benchmarks.embedded`, whose paths these are: the naive baseline (JSON decode,
then stock Drain3 with masking, a miner per stream) and the embedded run (SQLite).

- `free-text`: two services log free text after a fixed prefix (a search service its
  queries, a chat service its messages: random words of letters, never masked), a third
  one steady event. Nearly every line is new to a miner: Drain's slowest case.
- `skewed-clock`: one service whose lines come from three pods, one with its clock two
  minutes ahead; in event time the stream jumps back and forth line by line.
- `stragglers`: one service in order but for 1 % of its lines, which arrive five minutes
  late.
- `wide-lines`: one service logs statements of 30 to 80 `col_<n> = <value>` pairs, each
  line new: hundreds of characters and dozens of numbers a line.
- `stack-traces`: two services; a fifth of the lines are Java exceptions of 10 to 40
  frames drawn at random (multi-line entries of 1 to 3 kB), the rest one-line events.

Prints per workload and path: entries/s, the ratio to the naive baseline, µs per entry,
the batches and templates the run ended with, and peak RSS.
"""

from __future__ import annotations

import argparse
import string
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from random import Random

from tests.benchmarks.embedded import START_NS, _entry, _measure

PREFIXES = {"search": "search query received:", "chat": "message from user:"}


def free_text(lines: int, rng: Random) -> Iterator[tuple[str, str, int]]:
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
                  for _ in range(20_000)]
    for i in range(lines):
        service = ("search", "chat", "api")[i % 3]
        if service == "api":
            text = f"request served in {rng.randint(1, 900)} ms status 200"
        else:
            words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 12)))
            text = f"{PREFIXES[service]} {words}"
        yield service, text, START_NS + i * 1_000_000


def skewed_clock(lines: int, rng: Random) -> Iterator[tuple[str, str, int]]:
    for i in range(lines):
        ahead_ns = 120 * 10**9 if i % 3 == 0 else 0
        yield "checkout", _served(rng), START_NS + i * 10_000_000 + ahead_ns


def stragglers(lines: int, rng: Random) -> Iterator[tuple[str, str, int]]:
    for i in range(lines):
        late_ns = 300 * 10**9 if rng.random() < 0.01 else 0
        yield "checkout", _served(rng), START_NS + i * 10_000_000 - late_ns


def wide_lines(lines: int, rng: Random) -> Iterator[tuple[str, str, int]]:
    for i in range(lines):
        pairs = ", ".join(f"col_{rng.randrange(60)} = {rng.randrange(10**5)}"
                          for _ in range(rng.randint(30, 80)))
        text = f"executing UPDATE orders SET {pairs} WHERE id = {rng.randrange(10**6)}"
        yield "etl", text, START_NS + i * 1_000_000


FRAMES = [f"com.acme.{package}.{kind}.{method}"
          for package in ("orders", "db", "http", "auth")
          for kind in ("Service", "Repo", "Handler", "Client")
          for method in ("run", "call", "get", "save", "apply")]


def stack_traces(lines: int, rng: Random) -> Iterator[tuple[str, str, int]]:
    for i in range(lines):
        if rng.random() < 0.2:
            frames = "\n".join(f"\tat {rng.choice(FRAMES)}(Service.java:{rng.randint(10, 900)})"
                               for _ in range(rng.randint(10, 40)))
            text = f"java.lang.IllegalStateException: order {rng.randrange(10**6)} not found\n"
            text += frames
        else:
            text = f"processed invoice {rng.randrange(10**6)} in {rng.randint(1, 500)} ms"
        yield ("billing", "ledger")[i % 2], text, START_NS + i * 1_000_000


def _served(rng: Random) -> str:
    return f"order {rng.randrange(10**6)} served in {rng.randint(1, 900)} ms"


WORKLOADS: dict[str, Callable[[int, Random], Iterator[tuple[str, str, int]]]] = {
    "free-text": free_text, "skewed-clock": skewed_clock, "stragglers": stragglers,
    "wide-lines": wide_lines, "stack-traces": stack_traces}


def write_workload(path: Path, name: str, lines: int, seed: int) -> None:
    rng = Random(seed)
    with path.open("w") as out:
        for service, text, ts in WORKLOADS[name](lines, rng):
            out.write(_entry(service, text, ts, rng) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    args = parser.parse_args()
    print(f"{args.lines:,} lines a workload, seed {args.seed}; each path in its own process\n")
    print("| workload | path | entries/s | x naive | µs/entry | batches | templates at the end "
          "| peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.only or list(WORKLOADS):
        with tempfile.TemporaryDirectory() as tmp:
            workload = Path(tmp) / f"{name}.jsonl"
            write_workload(workload, name, args.lines, args.seed)
            naive, run = _measure("naive", workload), _measure("dense", workload)
        base = naive["entries"] / naive["seconds"]
        for path, r in (("naive: JSON decode, then Drain3", naive), ("logwarden run", run)):
            rate = r["entries"] / r["seconds"]
            batches = f"{int(r['batches']):,}" if r["batches"] else "-"
            print(f"| {name} | {path} | {rate:,.0f} | {rate / base:.3f} | {1e6 / rate:.1f} "
                  f"| {batches} | {int(r['templates']):,} | {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
