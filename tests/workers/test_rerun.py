"""Feeding the same logs twice into one database, as a user piping `kubectl logs` twice
would: the second run's entries are counted (as duplicates), never silently dropped."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.workers.clirun import logwarden, summary_count
from workers import sample


def test_stdin_fed_twice_is_counted_twice(tmp_path: Path) -> None:
    with gzip.open(sample.sample_path(), "rb") as stream:
        head = [line for _, line in zip(range(1500), stream, strict=False)]
    lines = b"".join(line for line in head if _is_text(line))
    env = {"LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'logwarden.db'}"}
    first = logwarden("run", "--from", "-", cwd=tmp_path, env=env, stdin=lines)
    second = logwarden("run", "--from", "-", cwd=tmp_path, env=env, stdin=lines)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "all entries accounted for: yes" in second.stdout
    assert summary_count(first.stdout, "processed") > 1000
    assert summary_count(second.stdout, "processed") == 0
    first_counted = (summary_count(first.stdout, name) for name in ("processed", "duplicates"))
    assert summary_count(second.stdout, "duplicates") == sum(first_counted)


def _is_text(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
