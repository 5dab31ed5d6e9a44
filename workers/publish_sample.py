"""`python -m workers.publish_sample --topic T`: publishes the bundled sample to a Pub/Sub
topic, one LogEntry per message as a log sink does, so a local stack (the Pub/Sub
emulator: set PUBSUB_EMULATOR_HOST) has real traffic to show. Safe to run twice: every
entry keeps its insertId, so a second run counts as duplicates, not as new entries."""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

import google.cloud.pubsub_v1 as pubsub_v1  # "from google.cloud import" trips mypy

from workers.sample import sample_path


def sample_lines(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """The sample's lines as they are (malformed ones too: the sample has some on purpose)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        for count, line in enumerate(lines):
            if limit is not None and count >= limit:
                return
            if line.strip():
                yield line.rstrip(b"\n")


def publish(topic: str, lines: Iterator[bytes]) -> int:
    """Publishes every line to `topic`; returns how many, once Pub/Sub has them all."""
    publisher = pubsub_v1.PublisherClient()
    futures = [publisher.publish(topic, line) for line in lines]
    for future in futures:
        future.result(timeout=120)
    publisher.stop()
    return len(futures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--topic", required=True, help="projects/P/topics/T")
    parser.add_argument("--file", type=Path, default=sample_path(),
                        help="JSON lines, gzipped or not (default: the bundled sample)")
    parser.add_argument("--limit", type=int, help="publish only the first N lines")
    args = parser.parse_args(argv)
    count = publish(args.topic, sample_lines(args.file, args.limit))
    print(f"published {count} log entries to {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
