"""The sweep sets the incident gauges from the database: what is open, by severity and
state, and how many silences are in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from alerting.lifecycle import sweep_incidents
from pipeline.anomaly import AnomalySeverity
from pipeline.incidents import IncidentPolicy, Matcher
from pipeline.storage import Store, make_engine
from tests.pipeline.test_storage import SEARCH, T0, Clock, make_anomaly, record


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(migrated_db_url: str, clock: Clock) -> Iterator[Store]:
    store = Store(make_engine(migrated_db_url), clock=clock)
    yield store
    store.close()


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(f"logwarden_{name}", labels)


def test_the_sweep_reads_open_incidents_and_silences_into_the_gauges(store: Store,
                                                                     clock: Clock) -> None:
    warning = record(store, "b1", [make_anomaly("b1")]).new_alert_ids[0]
    record(store, "b2", [make_anomaly("b2", severity=AnomalySeverity.CRITICAL, stream=SEARCH)])
    store.incidents.acknowledge(warning, "ana")
    store.incidents.add_silence([Matcher("service", "search")], duration=timedelta(hours=1),
                                author="ana", comment="drill")
    resolved_before = gauge("incidents_total", event="resolved") or 0.0

    sweep_incidents(store, IncidentPolicy(quiet_s=300), T0)
    assert gauge("incidents_open", severity="warning", state="acknowledged") == 1
    assert gauge("incidents_open", severity="critical", state="firing") == 1
    assert gauge("incidents_open", severity="warning", state="firing") == 0
    assert gauge("silences_active") == 1

    clock.now += timedelta(hours=1)  # all quiet
    sweep_incidents(store, IncidentPolicy(quiet_s=300), T0 + 3600 * 10**9)
    assert gauge("incidents_open", severity="critical", state="firing") == 0
    assert gauge("incidents_total", event="resolved") == resolved_before + 2
