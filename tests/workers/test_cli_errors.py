"""Every bad input a new user tries gets one or two lines, the right exit code, no traceback.

Most cases go through click's runner (the same `main`, in this process); a few run the
installed `logwarden` as a real process, to prove nothing else prints on the way out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.workers.clirun import logwarden
from workers.cli import main

BAD_RULES = 'rules:\n  - name: x\n    anomaly_type: t\n    description: d\n    regex: "("\n'
NOT_YAML = "rules: [\n  - name: x\n"
ARRAY = json.dumps([{"textPayload": "hello", "insertId": "1", "timestamp": "2026-11-02T08:00:00Z"}])

# (case, args, env, exit code, what the message must name)
CASES = [
    (
        "sensitivity not a number",
        ["anomalies"],
        {"LOGWARDEN_SENSITIVITY": "abc"},
        2,
        r"LOGWARDEN_SENSITIVITY is 'abc': expected a valid number",
    ),
    (
        "sensitivity out of range",
        ["anomalies"],
        {"LOGWARDEN_SENSITIVITY": "9"},
        2,
        r"LOGWARDEN_SENSITIVITY is '9': expected .*less than or equal to 5",
    ),
    (
        "channels not a list",
        ["anomalies"],
        {"LOGWARDEN_CHANNELS": "slack"},
        2,
        r"LOGWARDEN_CHANNELS is 'slack': expected a JSON list",
    ),
    (
        "nested setting not an object",
        ["anomalies"],
        {"LOGWARDEN_SMTP": "x"},
        2,
        r"LOGWARDEN_SMTP is 'x': expected a JSON object.*LOGWARDEN_SMTP__HOST",
    ),
    (
        "nested field wrong",
        ["anomalies"],
        {"LOGWARDEN_BATCH__MAX_ENTRIES": "0"},
        2,
        r"LOGWARDEN_BATCH__MAX_ENTRIES is '0': expected .*greater than or equal to 1",
    ),
    (
        "unknown channel",
        ["run", "--from", "{array}"],
        {"LOGWARDEN_CHANNELS": '["slak"]'},
        2,
        r"unknown channel 'slak': use console, file, slack or email",
    ),
    (
        "slack without a webhook",
        ["run", "--from", "{array}"],
        {"LOGWARDEN_CHANNELS": '["slack"]'},
        2,
        r"channel 'slack' needs LOGWARDEN_SLACK_WEBHOOK_URL",
    ),
    (
        "missing --from file",
        ["run", "--from", "{tmp}/nope.jsonl"],
        {},
        2,
        r"'--from'.*nope.jsonl' does not exist",
    ),
    ("--from a directory", ["run", "--from", "{tmp}"], {}, 2, r"'--from'.*is a directory"),
    (
        "missing rules file",
        ["run", "--from", "{array}"],
        {"LOGWARDEN_RULES_FILE": "{tmp}/rules.yaml"},
        2,
        r"cannot read .*rules.yaml \(named by LOGWARDEN_RULES_FILE\): there is no file",
    ),
    (
        "rules file with a bad regex",
        ["run", "--from", "{array}"],
        {"LOGWARDEN_RULES_FILE": "{bad_rules}"},
        2,
        r"bad_rules.yaml: rules.0.regex: .*invalid regex",
    ),
    (
        "rules file not YAML",
        ["run", "--from", "{array}"],
        {"LOGWARDEN_RULES_FILE": "{not_yaml}"},
        2,
        r"not_yaml.yaml: not valid YAML",
    ),
    (
        "missing config file",
        ["anomalies"],
        {"LOGWARDEN_CONFIG_FILE": "{tmp}/conf.toml"},
        2,
        r"LOGWARDEN_CONFIG_FILE points to .*conf.toml, which does not exist",
    ),
    (
        "no database yet",
        ["anomalies"],
        {},
        2,
        r"no database at logwarden.db .*--db URL or LOGWARDEN_DATABASE_URL",
    ),
    ("dead letters, no database", ["dead-letters"], {}, 2, r"no database at logwarden.db"),
    (
        "an empty database",
        ["--db", "sqlite:///{empty_db}", "anomalies"],
        {},
        2,
        r"holds no Logwarden tables.*logwarden migrate",
    ),
    (
        "database unreachable",
        ["anomalies"],
        {"LOGWARDEN_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/x"},
        1,
        r"the database failed: .*refused.*LOGWARDEN_DATABASE_URL",
    ),
    (
        "bad --since",
        ["anomalies", "--since", "yesterday"],
        {"LOGWARDEN_DATABASE_URL": "{db}"},
        2,
        r"'yesterday' is neither a duration",
    ),
    ("bad --severity", ["anomalies", "--severity", "huge"], {}, 2, r"'huge' is not one of"),
    ("unknown command", ["anomaly"], {}, 2, r"No such command 'anomaly'"),
    (
        "gzip cut short",
        ["run", "--from", "{cut_gzip}"],
        {"LOGWARDEN_DATABASE_URL": "{db}"},
        1,
        r"the gzip data is corrupt or cut short",
    ),
]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import gzip
    import os

    for name in [n for n in os.environ if n.startswith("LOGWARDEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOGWARDEN_LOG_JSON", "false")
    (tmp_path / "bad_rules.yaml").write_text(BAD_RULES)
    (tmp_path / "not_yaml.yaml").write_text(NOT_YAML)
    (tmp_path / "array.json").write_text(ARRAY)
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(ARRAY.encode() * 50)[:40])
    db = tmp_path / "migrated.db"
    assert CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "migrate"]).exit_code == 0
    return {
        "tmp": str(tmp_path),
        "bad_rules": str(tmp_path / "bad_rules.yaml"),
        "not_yaml": str(tmp_path / "not_yaml.yaml"),
        "array": str(tmp_path / "array.json"),
        "empty_db": str(tmp_path / "empty.db"),
        "cut_gzip": str(tmp_path / "cut.json.gz"),
        "db": f"sqlite:///{db}",
    }


def _filled(text: str, files: dict[str, str]) -> str:
    return text.format(**files)


@pytest.mark.parametrize(
    ("case", "args", "env", "code", "pattern"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_sentence(files, case, args, env, code, pattern):
    result = CliRunner().invoke(
        main,
        [_filled(a, files) for a in args],
        env={k: _filled(v, files) for k, v in env.items()},
    )
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert re.search(pattern, message, re.S), message
    if not message.startswith("Usage:"):  # click's usage errors add a usage line and a hint
        assert len(message.splitlines()) <= 2, message
    assert not (Path(files["tmp"]) / "logwarden.db").exists(), "an empty database was left"


def test_a_typo_in_a_variable_is_said_with_the_closest_name(files):
    result = CliRunner().invoke(
        main,
        ["anomalies"],
        env={"LOGWARDEN_SENSITIVTY": "2", "LOGWARDEN_DATABASE_URL": files["db"]},
    )
    assert result.exit_code == 0
    assert result.stderr.strip() == (
        "logwarden: warning: LOGWARDEN_SENSITIVTY is not a Logwarden setting, ignored; "
        "did you mean LOGWARDEN_SENSITIVITY?"
    )


def test_known_nested_and_keyed_variables_are_not_warned_about(files):
    env = {
        "LOGWARDEN_SMTP__HOST": "mail",
        "LOGWARDEN_STREAM_SENSITIVITY__api": "0.5",
        "LOGWARDEN_DATABASE_URL": files["db"],
    }
    result = CliRunner().invoke(main, ["anomalies"], env=env)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_listings_print_json(files):
    for command in (["anomalies", "--json"], ["dead-letters", "--json"]):
        result = CliRunner().invoke(main, command, env={"LOGWARDEN_DATABASE_URL": files["db"]})
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"logwarden, version \d+\.\d+\.\d+\S*\n", result.output)


@pytest.mark.parametrize(
    ("args", "env", "code", "pattern"),
    [
        (["anomalies"], {"LOGWARDEN_SENSITIVITY": "abc"}, 2, "LOGWARDEN_SENSITIVITY is 'abc'"),
        (["anomalies"], {"LOGWARDEN_CHANNELS": "slack"}, 2, "LOGWARDEN_CHANNELS is 'slack'"),
        (["anomalies"], {}, 2, "no database at logwarden.db"),
    ],
)
def test_a_real_process_prints_only_the_sentence(tmp_path, args, env, code, pattern):
    result = logwarden(*args, cwd=tmp_path, env=env)
    assert result.returncode == code
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith(f"logwarden: {pattern}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logwarden.db").exists()


def test_anomalies_carry_their_logs_explorer_link(files, tmp_path):
    lines = []
    for i in range(240):  # four minutes of a service; the last one runs out of memory
        oom = i >= 180
        lines.append(
            json.dumps(
                {
                    "insertId": f"i{i}",
                    "timestamp": f"2026-11-02T08:{i // 60:02d}:{i % 60:02d}Z",
                    "severity": "ERROR" if oom else "INFO",
                    "resource": {
                        "type": "k8s_container",
                        "labels": {"project_id": "acme-prod", "container_name": "billing"},
                    },
                    "textPayload": f"java.lang.OutOfMemoryError: Java heap space in worker {i}"
                    if oom
                    else f"GET /invoices/{i} 200 in {i % 17} ms",
                }
            )
        )
    (tmp_path / "oom.jsonl").write_text("\n".join(lines) + "\n")
    env = {"LOGWARDEN_DATABASE_URL": files["db"], "LOGWARDEN_CHANNELS": "[]"}
    assert CliRunner().invoke(main, ["run", "--from", "oom.jsonl"], env=env).exit_code == 0
    listed = CliRunner().invoke(main, ["anomalies", "--json"], env=env)
    found = json.loads(listed.stdout)
    assert found
    for anomaly in found:
        url = anomaly["logs_url"]
        assert url.startswith("https://console.cloud.google.com/logs/query;query=")
        assert url.endswith("?project=acme-prod")
        assert "resource.labels.container_name%3D%22billing%22" in url
    assert any("OutOfMemoryError" in a["logs_url"] for a in found)
    text = CliRunner().invoke(main, ["anomalies", "--links"], env=env).stdout
    assert text.count("https://console.cloud.google.com/logs/query") == len(found)
