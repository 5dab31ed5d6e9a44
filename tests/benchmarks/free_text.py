"""Benchmark: services that log free text, next to "JSON decode, then Drain3", in one run.

    python -m tests.benchmarks.free_text [--lines 30000] [--seed 3]

Free text after a fixed prefix (a search service logging its queries, a chat service its
messages: random words of letters, never masked) makes nearly every line new to a miner,
the workload Drain is slowest on. Beside them a service with one steady event. Each path
runs in its own process, as in `tests.benchmarks.embedded`, whose paths these are: the
naive baseline and the embedded run (SQLite). Prints entries/s, the ratio to the naive
baseline, µs per entry, the templates the run ended with and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from pathlib import Path
from random import Random

from tests.benchmarks.embedded import START_NS, _measure

PREFIXES = {"search": "search query received:", "chat": "message from user:"}


def write_workload(path: Path, lines: int, seed: int) -> None:
    rng = Random(seed)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
                  for _ in range(20_000)]
    with path.open("w") as out:
        for i in range(lines):
            service = ("search", "chat", "api")[i % 3]
            if service == "api":
                text = f"request served in {rng.randint(1, 900)} ms status 200"
            else:
                words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 12)))
                text = f"{PREFIXES[service]} {words}"
            out.write(_entry(service, text, START_NS + i * 1_000_000, rng) + "\n")


def _entry(service: str, text: str, ts: int, rng: Random) -> str:
    seconds, nanos = divmod(ts, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    return json.dumps({
        "insertId": f"{rng.getrandbits(64):016x}", "textPayload": text, "timestamp": stamp,
        "severity": "INFO", "logName": "projects/acme-prod/logs/stdout",
        "resource": {"type": "k8s_container", "labels": {
            "project_id": "acme-prod", "namespace_name": "bench", "container_name": service}},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "free_text.jsonl"
        write_workload(workload, args.lines, args.seed)
        naive, run = _measure("naive", workload), _measure("dense", workload)
    base = naive["entries"] / naive["seconds"]
    print(f"free-text workload: {args.lines:,} lines, 3 services (two logging free text "
          f"after a fixed prefix), seed {args.seed}; each path in its own process\n")
    print("| path | entries/s | x naive | µs/entry | templates at the end | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("naive: JSON decode, then Drain3", naive), ("logwarden embedded run", run)):
        rate = r["entries"] / r["seconds"]
        templates = f"{int(r['templates']):,}" if "templates" in r else "-"
        print(f"| {name} | {rate:,.0f} | {rate / base:.3f} | {1e6 / rate:.1f} "
              f"| {templates} | {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
