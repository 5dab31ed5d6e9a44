"""`logwarden run --llm` and `logwarden anomalies` as a user runs them, against the
generateContent stand-in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.gemini import GeminiStandIn
from tests.workers.clirun import logwarden

START = 1_764_000_000


def log_file(tmp_path: Path) -> Path:
    """Twenty quiet minutes of a service, then a minute of out-of-memory crashes."""
    lines = []
    for i in range(20 * 12):
        lines.append({"insertId": f"ok-{i}", "timestamp": _at(START + i * 5),
                      "severity": "INFO", "textPayload": f"GET /orders/{i} 200 in {i % 40} ms"})
    for i in range(30):
        lines.append({"insertId": f"oom-{i}", "timestamp": _at(START + 1200 + i),
                      "severity": "ERROR",
                      "textPayload": "java.lang.OutOfMemoryError: Java heap space "
                                     "user=ops@example.com"})
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _at(seconds: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


def test_run_llm_reviews_and_anomalies_shows_the_verdict(
    tmp_path: Path, gemini: GeminiStandIn
) -> None:
    env = {"LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'lw.db'}",
           "LOGWARDEN_LLM__API_KEY": "cli-test-key", "LOGWARDEN_LLM__BASE_URL": gemini.base_url,
           "LOGWARDEN_LLM__MODEL": "flash-cli"}
    run = logwarden("run", "--from", str(log_file(tmp_path)), "--service", "api", "--llm",
                    cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    calls = int(re.search(r"llm calls\s+(\d+)", run.stdout).group(1))  # type: ignore[union-attr]
    assert calls == len(gemini.requests) >= 1
    assert "every batch would be" in run.stdout and "estimated $" in run.stdout
    assert all("ops@example.com" not in r.body for r in gemini.requests)
    listed = logwarden("anomalies", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "↳ flash-cli: anomaly (90%)" in listed.stdout
    usage = logwarden("llm-usage", cwd=tmp_path, env=env)
    assert usage.returncode == 0, usage.stderr
    assert re.search(rf"calls\s+{calls}\s+tokens.*estimated \$0\.\d{{4}}\s+ok {calls}$",
                     usage.stdout.strip()), usage.stdout


def test_without_a_key_one_line_says_the_llm_is_off(
    tmp_path: Path, gemini: GeminiStandIn
) -> None:
    env = {"LOGWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'lw.db'}",
           "LOGWARDEN_LLM__BASE_URL": gemini.base_url}
    run = logwarden("run", "--from", str(log_file(tmp_path)), "--llm", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).count("LLM escalation off") == 1
    assert "llm calls" not in run.stdout
    assert gemini.requests == []
