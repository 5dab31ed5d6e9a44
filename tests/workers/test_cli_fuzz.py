"""Hypothesis properties of the `logwarden` command line: any arguments to the real
commands end in output or a clear error (exit code 0, 1 or 2), never in a traceback or
an error nobody foresaw."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import migrations
from tests.fuzzing import FEW, mutated_entry, real_entry
from workers.cli import main

UNFORESEEN = "(details in "  # how the CLI reports an exception it has no sentence for

DURATIONS = st.one_of(
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(-10, 10**25),
              st.sampled_from(["s", "m", "h", "d", "w", "y", "", "ms"])),
    st.sampled_from(["2026-11-02T10:00:00Z", "0001-01-01", "9999-12-31T23:59:59+14:00",
                     "2026-02-30", "2026-11-02T10:00:00.123456789Z", "now", "", " "]),
    st.text(max_size=30),
)
NUMBERS = st.one_of(st.integers(-10, 10**22).map(str), st.text(max_size=8))
WORDS = st.one_of(st.sampled_from(["checkout", "info", "critical", "invalid_json", "-", "--"]),
                  st.text(max_size=20))


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'fuzz.db'}"
        migrations.upgrade(url)
        yield url


def invoke(args: list[str], database: str) -> str:
    result = CliRunner().invoke(main, ["--db", database, *args])
    output = result.output
    assert result.exit_code in (0, 1, 2), (args, result.exception, output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args, repr(result.exception))
    assert "Traceback" not in output and UNFORESEEN not in output, (args, output)
    return output


@FEW
@given(since=DURATIONS, limit=NUMBERS, service=WORDS,
       severity=st.one_of(st.none(), WORDS), as_json=st.booleans())
def test_anomalies_takes_any_filter(database: str, since: str, limit: str, service: str,
                                    severity: str | None, as_json: bool) -> None:
    args = ["anomalies", "--since", since, "--limit", limit, "--service", service]
    args += ["--severity", severity] if severity is not None else []
    invoke(args + (["--json"] if as_json else []), database)


@FEW
@given(url=st.one_of(st.text(max_size=30), st.sampled_from(
    ["notaurl", "foo://x/y", "sqlite://", "sqlite:///", "sqlite:////nonexistent/dir/x.db",
     "postgresql+psycopg://postgres@127.0.0.1:9/x", "mysql://a@b/c", "://", "sqlite:///%s"])),
       command=st.sampled_from(["anomalies", "dead-letters"]))
def test_any_database_url_fails_cleanly(url: str, command: str) -> None:
    result = CliRunner().invoke(main, ["--db", url, command])
    assert result.exit_code in (0, 1, 2) and isinstance(result.exception, SystemExit | None)
    assert "Traceback" not in result.output and UNFORESEEN not in result.output, result.output


@FEW
@given(reason=WORDS, limit=NUMBERS)
def test_dead_letters_takes_any_filter(database: str, reason: str, limit: str) -> None:
    invoke(["dead-letters", "--reason", reason, "--limit", limit], database)


@FEW
@given(command=st.sampled_from(["anomalies", "dead-letters", "migrate", "templates", "eval",
                                "worker", "ingest", "push", "run"]),
       tokens=st.lists(st.one_of(WORDS, st.sampled_from(
           ["--since", "--limit", "--queues", "-Q", "--concurrency", "-c", "--revision",
            "--port", "--labels", "--from", "--json", "--help", "--sensitivity", "notify",
            "detect,llm,x", "0", "70000"])), max_size=5))
def test_any_arguments_to_any_command_fail_cleanly(database: str, command: str,
                                                   tokens: list[str]) -> None:
    # Only argument errors are reached: a command that would start a server or a long
    # run is given an argument it refuses first, or its --help.
    if command in ("worker", "ingest", "push", "run", "eval") and "--help" not in tokens:
        tokens = [*tokens, "--no-such-option"]
    invoke([command, *tokens], database)


@FEW
@given(lines=st.lists(st.one_of(mutated_entry(), real_entry(), st.binary(max_size=80)),
                      max_size=15))
def test_templates_reads_any_file(database: str, lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.jsonl"
        path.write_bytes(b"\n".join(lines))
        invoke(["templates", str(path)], database)
