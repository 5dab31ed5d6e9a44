"""Routes in the config file, read by the real `logwarden` process: a mistake is one line
naming the setting and its line in the file; a good file routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.clirun import logwarden
from workers.settings import Settings

GOOD = """\
channels: [console]
route:
  group_wait: 30s
routes:
  - match: {severity: critical}
    receivers: [file]
    repeat_interval: 1h
    continue: true
"""


@pytest.mark.parametrize(("mistake", "expected"), [
    ("    repeat_interval: soon\n",
     "routes.0.repeat_interval in routes.yaml (line 7) is 'soon': expected a duration"),
    ("    contine: true\n", "routes.0.contine in routes.yaml (line 7) is True: expected Extra"),
    ("    match_re: {service: '('}\n", "routes.0.match_re in routes.yaml (line 7)"),
])
def test_a_mistake_names_its_line(tmp_path: Path, mistake: str, expected: str) -> None:
    lines = GOOD.splitlines(keepends=True)
    bad = "".join(lines[:6]) + mistake
    (tmp_path / "routes.yaml").write_text(bad)
    done = logwarden("incidents", cwd=tmp_path, env={"LOGWARDEN_CONFIG_FILE": "routes.yaml"})
    assert done.returncode == 2
    assert expected in done.stderr + done.stdout, done.stderr
    assert (done.stderr + done.stdout).count("\n") == 1


def test_a_good_file_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "routes.yaml").write_text(GOOD)
    monkeypatch.setenv("LOGWARDEN_CONFIG_FILE", str(tmp_path / "routes.yaml"))
    tree = Settings().route_tree()
    assert tree.default.receivers == ("console",) and tree.default.group_wait_s == 30
    assert tree.routes[0].receivers == ("file",) and tree.routes[0].continue_matching
    assert tree.routes[0].group_wait_s == 30 and tree.routes[0].repeat_interval_s == 3600
