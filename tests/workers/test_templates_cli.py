"""`logwarden templates FILE`, run as a user runs it: a real process on real files."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.pipeline.loghub import load_all

LOGWARDEN = str(Path(sys.executable).parent / "logwarden")


def _run(*args: str, stdin: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    # Bytes in (gzip on stdin), so not tests.workers.clirun, which sends text.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGWARDEN_")}
    env["LOGWARDEN_DATABASE_URL"] = f"sqlite:///{cwd}/unused.db"
    return subprocess.run([LOGWARDEN, "templates", *args], input=stdin, capture_output=True,
                          cwd=cwd, env=env, timeout=120, check=False)


def _hpc() -> list[str]:
    return list(next(log for log in load_all() if log.system == "HPC").messages[:400])


def test_plain_text_table_and_per_line_csv(tmp_path: Path) -> None:
    lines = _hpc()
    source = tmp_path / "hpc.log"
    source.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    out = _run(str(source), "--service", "hpc", "--per-line", "ids.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    table = out.stdout.decode().splitlines()
    assert table[0].split()[:3] == ["count", "first", "seen"]
    counts = [int(row.split()[0]) for row in table[1:-1]]
    assert sum(counts) == len(lines) and counts == sorted(counts, reverse=True)
    assert table[-1] == f"{len(counts)} templates from {len(lines)} entries (plain text)"
    with (tmp_path / "ids.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["line", "template_id"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(lines) + 1))  # no blank line
    ids = [r[1] for r in rows[1:]]
    listed = {row.split()[3] for row in table[1:-1]}
    assert set(ids) == listed
    same = [i for i, line in enumerate(lines) if line == lines[0]]
    assert len({ids[i] for i in same}) == 1


def test_gzip_json_lines_from_stdin(tmp_path: Path) -> None:
    entries = [
        {"textPayload": f"generating core.{2000 + i}", "timestamp": f"2026-01-01T00:00:{i:02d}Z",
         "severity": "INFO"}
        for i in range(30)
    ] + [{"jsonPayload": {"message": "disk quota exceeded on an14"},
          "timestamp": "2026-01-01T00:01:00Z"}]
    data = gzip.compress(("\n".join(json.dumps(e) for e in entries) + "\n{broken\n").encode())
    out = _run("-", "--json", stdin=data, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["input"], report["entries"], report["rejected"]) == ("JSON lines, gzip", 31, 1)
    first, second = report["templates"]
    assert (first["template"], first["count"]) == ("generating <ID>", 30)
    assert (first["first_seen"], first["last_seen"]) == ("2026-01-01T00:00:00Z",
                                                         "2026-01-01T00:00:29Z")
    assert (second["template"], second["count"]) == ("disk quota exceeded on <ID>", 1)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    out = _run(str(tmp_path / "nope.log"), cwd=tmp_path)
    assert out.returncode != 0
    assert b"nope.log" in out.stderr


def test_a_json_array_as_gcloud_writes_it(tmp_path: Path) -> None:
    entries = [{"textPayload": f"Session {i} closed for an{i + 10}",
                "timestamp": f"2026-01-01T00:00:{i:02d}Z"} for i in range(12)]
    (tmp_path / "export.json").write_text(json.dumps(entries, indent=2))
    out = _run("export.json", "--per-line", "ids.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines()[-1] == "1 template from 12 entries (JSON array)"
    rows = list(csv.reader((tmp_path / "ids.csv").read_text().splitlines()))
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, 13)]  # positions
    assert len({r[1] for r in rows[1:]}) == 1
