"""`logwarden run` on what `gcloud logging read --format=json` writes, and on its kin."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.workers.clirun import LOGWARDEN, cli_env, logwarden
from workers import sample

ENTRIES = 300


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    """The first entries of the bundled sample that are JSON objects (some are malformed)."""
    found = []
    with gzip.open(sample.sample_path(), "rt") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
            if len(found) == ENTRIES:
                return found
    raise AssertionError("the sample is shorter than expected")


def _summary(output: str) -> dict[str, str]:
    return dict(
        re.findall(r"^(input|entries|processed|duplicates|dead letters) *(\S.*?)$", output, re.M)
    )


def _run(tmp_path: Path, name: str, data: bytes) -> dict[str, str]:
    path = tmp_path / name
    path.write_bytes(data)
    db = f"sqlite:///{tmp_path / (name + '.db')}"
    result = logwarden("run", "--from", str(path), cwd=tmp_path, env={"LOGWARDEN_DATABASE_URL": db})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return _summary(result.stdout)


def test_a_gcloud_array_is_read_entry_by_entry(tmp_path, entries):
    array = _run(tmp_path, "gcloud.json", json.dumps(entries, indent=2).encode())
    lines = _run(tmp_path, "sink.jsonl", "\n".join(json.dumps(e) for e in entries).encode())
    assert array["input"] == "JSON array"
    assert lines["input"] == "JSON lines"
    assert array["entries"].split()[0] == str(ENTRIES)
    # The same entries give the same outcome whichever way they are written.
    for count in ("processed", "duplicates", "dead letters"):
        assert array[count].split()[0] == lines[count].split()[0], count
    assert int(array["processed"]) + int(array["duplicates"]) >= ENTRIES - 5


def test_gzip_is_known_by_its_content_not_its_name(tmp_path, entries):
    data = gzip.compress(json.dumps(entries, indent=2).encode())
    result = _run(tmp_path, "export.json", data)  # no .gz suffix
    assert result["input"] == "JSON array, gzip"
    assert result["entries"].split()[0] == str(ENTRIES)


def test_the_replay_bar_shows_percent_and_eta(tmp_path, entries, capsys):
    from workers.embedded import run_embedded
    from workers.settings import Settings

    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(json.dumps(entries, indent=2).encode()))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bar.db'}", channels=[])
    with path.open("rb") as stream:
        run_embedded(
            stream,
            source_name="export",
            settings=settings,
            size_hint=path.stat().st_size,
            progress=True,
        )
    states = capsys.readouterr().err.replace("\r", "\n").splitlines()
    shown = [s for s in states if s.startswith("replaying:")]
    assert re.search(r"^replaying:\s+0%\|.*\[00:00<\?", shown[0])  # percent, then ETA
    assert re.search(r"^replaying: 100%\|", shown[-1])


def test_the_bar_shows_on_a_terminal_and_nowhere_else(tmp_path, entries):
    """`logwarden run` as a user starts it: on a terminal the bar shows; with stderr piped
    (a log file, a CI job) it does not."""
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(json.dumps(entries, indent=2).encode()))
    env = {"LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'bar.db'}"}

    piped = logwarden("run", "--from", str(path), cwd=tmp_path, env=env)
    assert piped.returncode == 0, piped.stderr
    assert "replaying" not in piped.stderr

    terminal = _stderr_on_a_terminal(["run", "--from", str(path)], tmp_path, env)
    assert re.search(r"replaying: +\d+%\|", terminal)


def _stderr_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """What `logwarden ARGS` writes to stderr when stderr is a terminal (a pseudo-terminal
    of 24 rows and 80 columns: tqdm draws nothing in a terminal of no width)."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with subprocess.Popen([str(LOGWARDEN), *args], cwd=cwd, env=cli_env(env),
                          stdout=subprocess.DEVNULL, stderr=secondary) as process:
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the process ended: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=120) == 0, shown
    os.close(main)
    return shown.decode(errors="replace")
