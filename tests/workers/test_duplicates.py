"""Which copies `logwarden run` drops as duplicates: Cloud Logging's own rule, the same
insertId in the same project at the same timestamp; an entry that names no time of its
own is matched by project and insertId alone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.workers.clirun import logwarden, summary_count

T1 = "2026-10-26T07:33:20.000000001Z"


def _entry(insert_id: str, project: str = "acme-prod", **times: str) -> bytes:
    entry = {"insertId": insert_id, "textPayload": f"order {insert_id} served in 12 ms",
             "resource": {"type": "k8s_container",
                          "labels": {"project_id": project, "container_name": "checkout"}},
             "severity": "INFO", **times}
    return json.dumps(entry).encode() + b"\n"


def _run(path: Path, lines: list[bytes], database: Path) -> tuple[int, int]:
    path.write_bytes(b"".join(lines))
    env = {"LOGWARDEN_DATABASE_URL": f"sqlite:///{database}"}
    result = logwarden("run", "--from", str(path), cwd=path.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert "all entries accounted for: yes" in result.stdout
    return summary_count(result.stdout, "processed"), summary_count(result.stdout, "duplicates")


def test_a_copy_is_a_duplicate_and_another_time_is_another_entry(tmp_path: Path) -> None:
    database = tmp_path / "logwarden.db"
    first = [
        _entry("a1", timestamp=T1),
        _entry("a1", timestamp=T1),  # a copy
        _entry("a1", timestamp="2026-10-26T07:33:21.000000001Z"),  # another entry
        _entry("a1", project="acme-staging", timestamp=T1),  # another project's
        _entry("b2"),  # no time of its own: it takes when the run read it
        _entry("c3", receiveTimestamp=T1),
    ]
    assert _run(tmp_path / "monday.jsonl", first, database) == (5, 1)
    # A later run, so an entry without times is read at another time than its first copy.
    second = [
        _entry("a1", timestamp=T1),
        _entry("b2"),
        _entry("c3", receiveTimestamp=T1),
        _entry("a1", timestamp="2026-10-26T07:33:22.000000001Z"),  # another entry
    ]
    assert _run(tmp_path / "tuesday.jsonl", second, database) == (1, 3)
