"""The provisioned Grafana dashboard parses and queries only metrics `metrics.py` declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.observability.declared import declared_series, promql_problems

GRAFANA = Path(__file__).resolve().parents[2] / "observability" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "logwarden.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "logwarden.yml"


def panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    result: list[dict[str, Any]] = dashboard["panels"]
    return result


def test_every_query_uses_declared_metrics_and_labels() -> None:
    series = declared_series()
    problems = {
        f"{panel['title']} / {target['refId']}": found
        for panel in panels()
        for target in panel["targets"]
        if (found := promql_problems(target["expr"], series))
    }
    assert problems == {}


def test_every_metric_name_in_a_query_is_real() -> None:
    # The check above only sees names it recognises: make sure each query names one.
    for panel in panels():
        for target in panel["targets"]:
            assert "logwarden_" in target["expr"], panel["title"]


def test_the_dashboard_shows_the_fleet_at_a_glance() -> None:
    queries = " ".join(target["expr"] for panel in panels() for target in panel["targets"])
    for metric in (
        "logwarden_entries_received_total",
        "logwarden_entries_processed_total",
        "logwarden_dead_letters_total",
        "logwarden_anomalies_total",
        "logwarden_deliveries_total",
        "logwarden_batch_seconds_bucket",
        "logwarden_queue_depth",
        "logwarden_templates",
    ):
        assert metric in queries


def test_panels_have_unique_ids_and_use_the_provisioned_datasource() -> None:
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_the_provider_loads_dashboards_from_a_folder() -> None:
    [provider] = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
