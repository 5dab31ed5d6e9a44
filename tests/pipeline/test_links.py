"""The Logs Explorer link of an anomaly: project, resource, service, window, phrases."""

from __future__ import annotations

from urllib.parse import unquote

from pipeline.entry import StreamKey
from pipeline.links import explorer_query, logs_explorer_url, template_phrases

T0 = 1_793_619_062 * 10**9  # 2026-11-02T11:31:02Z


def test_the_url_names_project_window_and_query():
    stream = StreamKey("acme-prod", "cloud_run_revision", "checkout")
    url = logs_explorer_url(stream, T0, T0 + 58 * 10**9, "Payment <*> declined for card <NUM>")
    base, _, project = url.partition("?")
    assert project == "project=acme-prod"
    assert base.startswith("https://console.cloud.google.com/logs/query;query=")
    parts = dict(p.split("=", 1) for p in base.split(";")[1:])
    assert unquote(parts["timeRange"]) == "2026-11-02T11:30:02Z/2026-11-02T11:33:00Z"
    assert unquote(parts["query"]).splitlines() == [
        'resource.type="cloud_run_revision"',
        'resource.labels.service_name="checkout"',
        '"Payment"',
        '"declined for card"',
    ]


def test_phrases_are_the_longest_literal_runs_in_order():
    text = (
        "<TIME> - WARN [QuorumPeer:<HOST>:QuorumCnxManager@<NUM>] - Cannot open channel "
        "to <NUM> at election address /<HOST>"
    )
    assert template_phrases(text) == ["Cannot open channel to", "at election address"]
    assert template_phrases("<NUM> <HOST> <*>") == []


def test_a_stream_without_a_known_service_label_and_quotes_escaped():
    assert explorer_query(
        StreamKey("p", "generic_task", "worker"), 'said "no way" <NUM> times'
    ) == [
        'resource.type="generic_task"',
        '"no way"',
    ]
    assert explorer_query(StreamKey("p", "k8s_container", 'we"ird'))[1] == (
        'resource.labels.container_name="we\\"ird"'
    )
