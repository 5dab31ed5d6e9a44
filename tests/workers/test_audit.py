"""`logwarden audit` as a user runs it: after an embedded run, the sums from the database,
and a non-zero exit naming what is missing when something does not add up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

LOGWARDEN = str(Path(sys.executable).parent / "logwarden")


def logwarden(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGWARDEN_")}
    env |= {"LOGWARDEN_CHANNELS": '["file"]', "LOGWARDEN_LOG_JSON": "false"}
    return subprocess.run([LOGWARDEN, "--db", f"sqlite:///{tmp_path / 'lw.db'}", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_audit_adds_up_after_a_run_and_names_what_is_missing(tmp_path: Path) -> None:
    entries = [
        {"insertId": f"a-{i}", "timestamp": f"2026-11-02T08:00:0{i}Z", "severity": "INFO",
         "textPayload": f"GET /items/{i} 200",
         "resource": {"type": "k8s_container", "labels": {"container_name": "shop"}}}
        for i in range(4)
    ]
    lines = [json.dumps(e) for e in entries]
    lines += [json.dumps(entries[2]), '{"insertId": "cut']  # a second copy, a broken line
    (tmp_path / "logs.jsonl").write_text("\n".join(lines) + "\n")
    assert logwarden(tmp_path, "run", "--from", "logs.jsonl").returncode == 0

    adds_up = logwarden(tmp_path, "audit", "--since", "1h", "--expect", "6")
    assert adds_up.returncode == 0, adds_up.stdout + adds_up.stderr
    sums = dict(line.rsplit(maxsplit=1) for line in adds_up.stdout.splitlines()[1:4])
    assert {k.strip(): int(v) for k, v in sums.items()} == {
        "processed": 4, "duplicates": 1, "dead letters": 1}
    assert "every entry is accounted for" in adds_up.stdout

    short = logwarden(tmp_path, "audit", "--since", "1h", "--expect", "7")
    assert short.returncode == 1
    assert "1 entries missing: expected 7, found 6" in short.stdout

    with sqlite3.connect(tmp_path / "lw.db") as db:  # an outcome row goes missing
        (batch_id,) = db.execute("SELECT batch_id FROM entry_outcomes LIMIT 1").fetchone()
        db.execute("DELETE FROM entry_outcomes WHERE rowid = "
                   "(SELECT min(rowid) FROM entry_outcomes)")
    uneven = logwarden(tmp_path, "audit", "--since", "1h")
    assert uneven.returncode == 1
    assert f"batch {batch_id}: the ledger counts" in uneven.stdout
