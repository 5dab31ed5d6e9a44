"""The Prometheus rules and config the fleet ships: valid for promtool, and about metrics
that exist. In CI (CI set) a missing promtool fails the run instead of skipping."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.declared import declared_series, promql_problems

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "observability" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
RULE_TESTS = Path(__file__).parent / "promtool" / "rules_test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is not on PATH: install Debian's prometheus package"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must validate the shipped rules")
    pytest.skip(message)


def run_promtool(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS" in run_promtool("check", "rules", RULES.name, cwd=PROMETHEUS)


def test_promtool_accepts_the_config_and_finds_its_rule_file() -> None:
    output = run_promtool("check", "config", CONFIG.name, cwd=PROMETHEUS)
    assert "1 rule files found" in output


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)


def test_rules_use_only_declared_metrics_and_labels() -> None:
    series = declared_series()
    problems = {
        name: found
        for rule in rules()
        if (found := promql_problems(rule["expr"], series))
        for name in [rule.get("alert") or rule["record"]]
    }
    assert problems == {}


def test_alerts_use_only_recorded_series_that_are_defined() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used = {name for rule in rules() for name in re.findall(r"logwarden:[a-z0-9_:]+", rule["expr"])}
    assert used <= recorded


def test_every_alert_has_a_severity_and_a_summary() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 5
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_the_config_scrapes_ingest_workers_api_and_beat() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"logwarden-ingest", "logwarden-workers", "logwarden-api", "logwarden-beat"} <= jobs


def test_the_metric_check_catches_a_typo_and_unknown_labels() -> None:
    series = declared_series()
    typo = promql_problems("rate(logwarden_entries_recieved_total[5m])", series)
    assert typo == ["undeclared metric logwarden_entries_recieved_total"]
    assert promql_problems("sum by (host) (rate(logwarden_entries_processed_total[5m]))", series)
    assert promql_problems('logwarden_deliveries_total{state="sent"}', series)
    assert not promql_problems(
        'sum by (le) (rate(logwarden_batch_seconds_bucket{stage="mine"}[5m]))', series
    )


RUNBOOK = REPO / "observability" / "RUNBOOK.md"


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def test_every_alert_links_its_own_section_of_the_runbook() -> None:
    sections = {line.removeprefix("## ").strip().lower()
                for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}
    for rule in rules():
        if "alert" in rule:
            url = rule["annotations"]["runbook_url"]
            path, _, anchor = url.partition("#")
            assert (REPO / path).resolve() == RUNBOOK and anchor == rule["alert"].lower()
            assert anchor in sections, rule["alert"]


def test_every_alert_is_shown_firing_by_a_promtool_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", ())
             if case["exp_alerts"]}
    assert set(alert_names()) <= fired


def test_the_config_sends_alerts_to_alertmanager() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    [manager] = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "alertmanager" in compose["services"]


def test_alertmanager_routes_to_receivers_it_defines() -> None:
    config = yaml.safe_load((REPO / "observability" / "alertmanager.yml").read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    route = config["route"]
    used = {route["receiver"], *(sub["receiver"] for sub in route.get("routes", ()))}
    assert used <= receivers
    alerts = set(alert_names())
    for rule in config.get("inhibit_rules", ()):
        [source] = rule["source_matchers"]
        assert source.split("=", 1)[1].strip('"') in alerts
