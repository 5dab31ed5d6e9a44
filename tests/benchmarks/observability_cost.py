"""Benchmark: what metrics and tracing cost the embedded detect path, in one run.

    python -m tests.benchmarks.observability_cost [--lines 30000] [--repeats 5] [--seed 7]

The dense workload of `tests.benchmarks.embedded` (four Loghub systems as four services,
batches full) run embedded, each run in its own process, in four set-ups:

- bare: every metric a no-op, no tracing (the baseline);
- metrics: the metrics as the embedded run keeps them (in-process registry);
- multiprocess: the metrics as a prefork worker keeps them (PROMETHEUS_MULTIPROC_DIR:
  each value in a memory-mapped file);
- traced: multiprocess metrics, and a span around each batch exported to a file through
  the batch span processor, as the Celery instrumentation makes one run span per task.

The set-ups take turns, repetition by repetition (the order rotating), so a busy
neighbour slows them alike; each figure is the median over the repetitions of the run's
CPU time (user + system, imports included, the exporter's thread too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tests.benchmarks.embedded import LOGHUB, run_into, write_dense

SETUPS = ("bare", "metrics", "multiprocess", "traced")


class NullMetric:
    """Takes every metric call and does nothing: the bare set-up's metrics."""

    def labels(self, *_: Any, **__: Any) -> NullMetric:
        return self

    def inc(self, *_: Any) -> None:
        pass

    def set(self, *_: Any) -> None:
        pass

    def observe(self, *_: Any) -> None:
        pass

    def time(self) -> nullcontext[None]:
        return nullcontext()


class NullMetrics:
    """Every attribute a `NullMetric`; `service` and `task` answer as the real ones do."""

    def __getattr__(self, _: str) -> NullMetric:
        return NullMetric()

    def service(self, name: str) -> str:
        return name

    def task(self, name: str) -> str:
        return name


def _set_up(setup: str, workdir: Path) -> None:
    if setup == "bare":
        from observability import metrics

        metrics._default = NullMetrics()  # type: ignore[assignment]
    if setup == "traced":
        from observability.tracing import configure_tracing, span
        from pipeline.processing import BatchProcessor

        configure_tracing("logwarden-bench", f"file:{workdir / 'spans.jsonl'}")
        process = BatchProcessor.process

        def traced(self: BatchProcessor, batch: Any) -> Any:
            with span("run/logwarden.detect_batch", batch_id=batch.id):
                return process(self, batch)

        BatchProcessor.process = traced  # type: ignore[method-assign]


def _child(setup: str, path: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        _set_up(setup, Path(tmp))
        summary, run_seconds = run_into(Path(tmp), path)
        seconds = time.process_time() - cpu
        costs = _costs_per_call(setup)
        if setup == "traced":
            from opentelemetry import trace

            trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
            spans = sum(1 for _ in (Path(tmp) / "spans.jsonl").open()) - SPAN_CALLS
        else:
            spans = 0
    print(json.dumps({"entries": summary.entries, "batches": summary.batches, "spans": spans,
                      "seconds": seconds, "run_seconds": run_seconds,
                      "wall": time.perf_counter() - started, **costs}))


METRIC_CALLS = 200_000
SPAN_CALLS = 5_000


def _costs_per_call(setup: str) -> dict[str, float]:
    """CPU µs of one call on the per-entry path (the received counter, the lag histogram
    of Pub/Sub and push) and, traced, of one span: the figures the whole runs are too
    noisy to show."""
    from observability.metrics import get_metrics

    metrics = get_metrics()
    counter = metrics.entries_received_total.labels(source="pubsub")
    histogram = metrics.ingest_lag_seconds.labels(source="pubsub")
    costs = {"inc_us": _cpu_us(counter.inc, METRIC_CALLS),
             "observe_us": _cpu_us(lambda: histogram.observe(2.5), METRIC_CALLS)}
    if setup == "traced":
        from observability.tracing import span

        def one_span() -> None:
            with span("run/logwarden.detect_batch", batch_id="b"):
                pass

        costs["span_us"] = _cpu_us(one_span, SPAN_CALLS)
    return costs


def _cpu_us(call: Any, times: int) -> float:
    started = time.process_time()
    for _ in range(times):
        call()
    return 1e6 * (time.process_time() - started) / times


def _measure(setup: str, path: Path, workdir: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if setup in ("multiprocess", "traced"):
        folder = Path(tempfile.mkdtemp(dir=workdir))  # empty, as multiprocess mode needs
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.observability_cost", "--child", setup,
         str(path)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=30_000, help="dense workload size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--loghub", type=Path, default=LOGHUB, help="the Loghub samples")
    parser.add_argument("--child", nargs=2, metavar=("SETUP", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    runs: dict[str, list[dict[str, float]]] = {setup: [] for setup in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        dense = Path(tmp) / "dense.jsonl"
        write_dense(dense, args.lines, args.seed, args.loghub)
        for repeat in range(args.repeats):
            turn = repeat % len(SETUPS)
            for setup in SETUPS[turn:] + SETUPS[:turn]:
                runs[setup].append(_measure(setup, dense, Path(tmp)))
    _report(runs, args)


def _report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    def median(setup: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[setup])

    first = runs["bare"][0]
    print(f"dense workload: {args.lines:,} lines, {int(first['batches'])} batches; "
          f"{args.repeats} repetitions, set-ups interleaved; medians of CPU seconds "
          "(process: imports included; run: run_embedded alone)\n")
    print("| set-up | process s | x bare | run s | run min-max | x bare (run) "
          "| µs/entry (run) | spans | µs/inc | µs/observe | µs/span |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for setup in SETUPS:
        run = [r["run_seconds"] for r in runs[setup]]
        print(f"| {setup} | {median(setup, 'seconds'):.2f} "
              f"| {median(setup, 'seconds') / median('bare', 'seconds'):.3f} "
              f"| {median(setup, 'run_seconds'):.2f} | {min(run):.2f}-{max(run):.2f} "
              f"| {median(setup, 'run_seconds') / median('bare', 'run_seconds'):.3f} "
              f"| {1e6 * median(setup, 'run_seconds') / first['entries']:.1f} "
              f"| {int(runs[setup][0]['spans'])} | {median(setup, 'inc_us'):.2f} "
              f"| {median(setup, 'observe_us'):.2f} "
              f"| {median(setup, 'span_us') if setup == 'traced' else 0:.1f} |")


if __name__ == "__main__":
    main()
