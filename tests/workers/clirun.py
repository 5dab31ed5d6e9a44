"""Runs the installed `logwarden` command as a user does: a real process, its own env."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

LOGWARDEN = Path(sys.executable).with_name("logwarden")


def logwarden(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`logwarden ARGS` in `cwd`, with no LOGWARDEN_* from the caller's environment."""
    return subprocess.run(
        [str(LOGWARDEN), *args],
        cwd=cwd,
        env=cli_env(env),
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `logwarden` runs with here: the caller's without its LOGWARDEN_*,
    no alert channels, plain-text logs, then `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOGWARDEN_")}
    clean.update({"LOGWARDEN_CHANNELS": "[]", "LOGWARDEN_LOG_JSON": "false"})
    clean.update(env or {})
    return clean


def summary_count(output: str, name: str) -> int:
    """The number on the `name` line of a run's summary ("processed   1,204")."""
    match = re.search(rf"^{name}\s+([\d,]+)", output, re.MULTILINE)
    assert match, f"no '{name}' line in:\n{output}"
    return int(match.group(1).replace(",", ""))
