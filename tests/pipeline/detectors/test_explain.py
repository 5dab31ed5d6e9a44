"""Which labels stand out in anomalous entries, and how the counts stay bounded."""

from __future__ import annotations

from pipeline.detectors.explain import (
    OTHER,
    TOTAL,
    clip,
    count_fields,
    overrepresented,
    sentence,
)
from tests.pipeline.detectors.factory import entry


def _from(pod: str, n: int, agent: str = "web") -> list:
    return [
        entry(
            "GET /",
            n=i,
            resource_labels={"pod_name": pod, "project_id": "p"},
            payload={"userAgent": agent},
        )
        for i in range(n)
    ]


def _baseline():
    counts: dict = {}
    for pod in ("web-1", "web-2", "web-3", "web-4"):
        counts = count_fields(counts, _from(pod, 30))
    return counts


def test_names_the_pod_the_anomalous_entries_come_from():
    named = overrepresented(_from("web-3", 18) + _from("web-1", 2), _baseline())
    assert named == ["pod_name=web-3 (90% vs 25% usually)"]
    assert sentence(named) == " Mostly from pod_name=web-3 (90% vs 25% usually)."


def test_names_nothing_when_entries_look_like_the_baseline():
    mixed = [e for pod in ("web-1", "web-2", "web-3", "web-4") for e in _from(pod, 5)]
    assert overrepresented(mixed, _baseline()) == []
    assert sentence([]) == ""


def test_names_nothing_without_enough_baseline():
    assert overrepresented(_from("web-3", 20), count_fields({}, _from("web-1", 10))) == []


def test_a_value_never_seen_before_counts_as_zero_usually():
    named = overrepresented(_from("web-9", 10, agent="curl/8.0"), _baseline())
    assert "userAgent=curl/8.0 (100% vs 0% usually)" in named
    assert "project_id" not in " ".join(named)


def test_counts_are_bounded_and_halved_past_the_total():
    counts: dict = {}
    for i in range(40):
        counts = count_fields(counts, _from(f"pod-{i}", 3), max_values=5, max_total=100)
    assert len(counts["pod_name"]) == 6 and OTHER in counts["pod_name"]
    assert counts[TOTAL][TOTAL] <= 100
    # Halving rounds down, so the field's sum may trail the total a little.
    assert 0.9 * counts[TOTAL][TOTAL] <= sum(counts["pod_name"].values()) <= counts[TOTAL][TOTAL]


def test_clip_keeps_one_printable_line():
    assert clip("a\nb\u202ec") == "a b c"
    assert clip("x" * 500, 10) == "x" * 9 + "…"
