"""Run as `python -m tests.observability.prefork_fleet DIR`: three forked children write
metrics in multiprocess mode, the first is marked dead, and the parent prints what its
`/metrics` endpoint serves."""

from __future__ import annotations

import multiprocessing
import sys
import urllib.request
from pathlib import Path

from observability import prepare_multiprocess_dir


def work(number: int) -> None:
    from observability.metrics import get_metrics

    metrics = get_metrics()
    metrics.entries_processed_total.labels(service="orders").inc(10 * number)
    metrics.worker_processes.set(1)
    metrics.entries_received_total.labels(source="pubsub").inc(number)
    metrics.ingest_open_batch_entries.set(5 * number)
    metrics.ingest_flow_paused.set(1 if number == 1 else 0)
    metrics.templates.set({1: 200, 2: 101, 3: 102}[number])
    metrics.queue_depth.labels(queue="detect").set({1: 50, 2: 7, 3: 3}[number])
    metrics.batch_entries.observe(number)


def main(directory: Path) -> None:
    prepare_multiprocess_dir(directory)
    from observability.metrics import mark_process_dead, start_metrics_server

    context = multiprocessing.get_context("fork")
    pids: list[int] = []
    for number in (1, 2, 3):  # one after the other: "most recent" is then well defined
        child = context.Process(target=work, args=(number,))
        child.start()
        child.join()
        assert child.pid is not None and child.exitcode == 0
        pids.append(child.pid)
    mark_process_dead(pids[0])
    server = start_metrics_server(0, multiprocess=True, addr="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            sys.stdout.write(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
