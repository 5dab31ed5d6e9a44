"""Benchmark: template mining speed, this miner against an earlier one and plain Drain3.

    python -m tests.benchmarks.mining [--before REV] [--repeat 3]

Mines the 14 Loghub samples (28,000 lines), the bundled sample's messages, and two
sets of lines new to a miner (10,000 each of `tests.benchmarks.untuned`'s free text and
stack traces, which are compared with every template of their leaf), best of `--repeat`,
in one run: plain Drain3 (default configuration, no masking) as the
baseline; the miner as it was at git revision `--before` (loaded from git into a
temporary package); this miner, and this miner with its two caches turned off. Then
masking alone: the rules one after another (as shipped) against one alternation regex.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from random import Random

from pipeline.entry import LogEntry
from pipeline.parsing import read_input
from pipeline.templates import LogMasker, TemplateMiner
from pipeline.templates.masking import DEFAULT_RULES
from tests.benchmarks.untuned import WORKLOADS
from tests.pipeline.grouping import stock_drain3
from tests.pipeline.loghub import REPO_ROOT, load_all
from workers import sample

BEFORE = "f8aea97"  # main before the miner learned to generalize
PACKAGE = "pipeline/templates"
NOVEL_LINES = ("free-text", "stack-traces")


def _old_miner(revision: str, into: Path) -> type:
    """TemplateMiner as it was at `revision`, imported as the package `old_templates`."""
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{revision}:{PACKAGE}"],
                           cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout
    package = into / "old_templates"
    package.mkdir()
    for name in names.split():
        source = subprocess.run(["git", "show", f"{revision}:{PACKAGE}/{name}"], cwd=REPO_ROOT,
                                check=True, capture_output=True, text=True).stdout
        (package / name).write_text(source.replace("pipeline.templates", "old_templates"))
    sys.path.insert(0, str(into))
    return importlib.import_module("old_templates").TemplateMiner  # type: ignore[no-any-return]


def _sample_messages() -> list[str]:
    with gzip.open(sample.sample_path(), "rb") as stream:
        _, items = read_input(stream, source_name="sample", project="local", service="",
                              now_ns=0)
        return [item.message for _, item in items if isinstance(item, LogEntry)]


def one_pass_masker() -> Callable[[str], str]:
    """The masking rules as one alternation regex, one pass (the rule that moves a sign
    onto a number after the fact has no place in one pass and is left out)."""
    rules = [r for r in DEFAULT_RULES if r.kind != "sign"]
    combined = re.compile(
        "|".join(f"(?P<r{i}>{r.pattern.pattern})" for i, r in enumerate(rules)), re.ASCII
    )

    def replace(match: re.Match[str]) -> str:
        rule = rules[int(str(match.lastgroup)[1:])]
        if rule.kind == "user":
            return match.group().split()[0] + " <USER>"
        return rule.replacement

    return lambda text: combined.sub(replace, text)


def _plain_drain3(messages: list[str]) -> None:
    drain3 = stock_drain3()
    for message in messages:
        drain3.add_log_message(message)


def _interleaved_rates(
    sets: dict[str, list[str]], miners: dict[str, Callable[[list[str]], object]], repeat: int
) -> dict[str, dict[str, float]]:
    """Best rate of each miner on each set; rounds take turns, so a machine that gets
    busier mid-run weighs on every miner alike."""
    best = {name: dict.fromkeys(sets, float("inf")) for name in miners}
    for _ in range(repeat):
        for name, mine in miners.items():
            for s, messages in sets.items():
                started = time.perf_counter()
                mine(messages)
                best[name][s] = min(best[name][s], time.perf_counter() - started)
    return {name: {s: len(sets[s]) / t for s, t in by_set.items()} for name, by_set in best.items()}


def _best_rate(lines: int, work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return lines / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = _old_miner(args.before, Path(tmp))
        sets = {"Loghub 14 x 2k": [m for log in load_all() for m in log.messages],
                "bundled sample": _sample_messages(),
                **{name: [text for _, text, _ in WORKLOADS[name](10_000, Random(3))]
                   for name in NOVEL_LINES}}
        miners: dict[str, Callable[[list[str]], object]] = {
            "plain Drain3 (baseline)": _plain_drain3,
            f"miner at {args.before} (before)": lambda ms: old(20_000).mine_many(
                (m, 0) for m in ms),
            "this miner, caches off": lambda ms: TemplateMiner(20_000, seen_lines=0).mine_many(
                (m, 0) for m in ms),
            "this miner (after)": lambda ms: TemplateMiner(20_000).mine_many((m, 0) for m in ms),
        }
        print("| miner | " + " | ".join(f"{name} entries/s | x Drain3" for name in sets) + " |")
        print("| --- |" + " ---: | ---: |" * len(sets))
        rates = _interleaved_rates(sets, miners, args.repeat)
        base = rates["plain Drain3 (baseline)"]
        for name, by_set in rates.items():
            cells = " | ".join(f"{by_set[s]:,.0f} | {by_set[s] / base[s]:.2f}" for s in sets)
            print(f"| {name} | {cells} |")
        _print_masking(sets, args.repeat)


def _print_masking(sets: dict[str, list[str]], repeat: int) -> None:
    sequential, one_pass = LogMasker().mask, one_pass_masker()
    print("\n| masking alone | " + " | ".join(f"{name} lines/s" for name in sets) + " |")
    print("| --- |" + " ---: |" * len(sets))
    for name, mask in (("rules in sequence (shipped)", sequential), ("one alternation", one_pass)):
        rates = [_best_rate(len(ms), lambda ms=ms, mask=mask: [mask(m) for m in ms], repeat)
                 for ms in sets.values()]
        print(f"| {name} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")


if __name__ == "__main__":
    main()
