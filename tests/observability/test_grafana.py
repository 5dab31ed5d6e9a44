"""The provisioned Grafana dashboards parse, query only metrics `metrics.py` declares,
filter by service where a metric has one, and are annotated with the deploys Logwarden
saw."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.declared import declared_series, promql_problems, written_samples

GRAFANA = Path(__file__).resolve().parents[2] / "observability" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "logwarden.yml"
# Prometheus's own series, for the processes-up panel.
SCRAPE_HEALTH = 'up{job=~"logwarden-.*"}'
TITLES = {"Logwarden / Fleet overview", "Logwarden / Detection", "Logwarden / Alerting",
          "Logwarden / LLM"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels() -> list[dict[str, Any]]:
    return [panel for board in dashboards().values() for panel in board["panels"]]


def queries() -> list[tuple[str, str]]:
    return [(f"{panel['title']} / {target['refId']}", target["expr"])
            for panel in panels() for target in panel["targets"]]


def test_four_dashboards_with_their_own_uids() -> None:
    boards = dashboards().values()
    assert {board["title"] for board in boards} == TITLES
    assert len({board["uid"] for board in boards}) == len(TITLES)


def test_every_query_uses_declared_metrics_and_labels() -> None:
    series = declared_series()
    problems = {name: found for name, expr in queries() if (found := promql_problems(expr, series))}
    assert problems == {}


def test_every_query_names_a_logwarden_metric() -> None:
    # The check above only sees names it recognises: make sure each query names one.
    for name, expr in queries():
        assert "logwarden_" in expr or SCRAPE_HEALTH in expr, name


def test_the_dashboards_cover_what_on_call_asks() -> None:
    text = {board["title"]: " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
            for board in dashboards().values()}
    wanted = {
        "Logwarden / Fleet overview": ["entries_received_total", "ingest_lag_seconds_bucket",
                                       "queue_depth", "dead_letters_total", "batches_total",
                                       "worker_processes", "up{"],
        "Logwarden / Detection": ["by (anomaly_type)", "by (service)", "batch_seconds_bucket",
                                  "detector_findings_total", "templates"],
        "Logwarden / Alerting": ["incidents_open", "incidents_total", "silences_active",
                                 "by (channel, status)", 'status=~"failed'],
        "Logwarden / LLM": ["llm_requests_total", "llm_tokens_total", "llm_cost_usd_total",
                            "llm_request_seconds_bucket", "over_budget"],
    }
    for title, names in wanted.items():
        for name in names:
            assert name in text[title], (title, name)


def test_a_service_variable_filters_every_query_of_a_metric_with_a_service() -> None:
    series = declared_series()
    with_service = {name for name, labels in series.items() if "service" in labels}
    for board in dashboards().values():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        for panel in board["panels"]:
            for target in panel["targets"]:
                names = set(re.findall(r"logwarden_[a-z0-9_]+", target["expr"]))
                if names & with_service:
                    assert 'service=~"$service"' in target["expr"], panel["title"]
                    assert "service" in variables, board["title"]
        if "service" in variables:
            assert "logwarden_entries_processed_total, service" in variables["service"]["query"][
                "query"]


def test_each_dashboard_is_annotated_with_the_deploys_logwarden_saw() -> None:
    for board in dashboards().values():
        [deploys] = [a for a in board["annotations"]["list"] if "expr" in a]
        assert "logwarden_changes_total" in deploys["expr"]
        assert not promql_problems(deploys["expr"], declared_series())


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_panels_have_unique_ids_do_not_overlap_and_use_the_provisioned_datasource(
    name: str,
) -> None:
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    board = dashboards()[name]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
        pos = panel["gridPos"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert pos["x"] + pos["w"] <= 24 and not mine & cells, panel["title"]
        cells |= mine


def test_the_provider_loads_the_dashboards_folder_that_compose_mounts() -> None:
    [provider] = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./observability/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_every_declared_metric_is_on_a_dashboard() -> None:
    shown = " ".join(expr for _, expr in queries())
    for sample in written_samples():
        assert sample.removesuffix("_count") in shown, sample
