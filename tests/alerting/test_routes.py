"""Routes: first match wins unless it continues, the default takes the rest, each
receiver once with its route's timing; matchers on labels, types and regexes."""

from __future__ import annotations

import pytest

from alerting.routes import Route, RouteTree
from pipeline.incidents import IncidentFacts, Matcher

CRITICAL_CHECKOUT = IncidentFacts("acme-prod/cloud_run_revision/checkout", "critical",
                                  ("error_burst", "crash_loop"))
WARNING_SEARCH = IncidentFacts("acme-prod/k8s_container/search", "warning", ("volume_spike",))

TREE = RouteTree(
    default=Route(("slack",), group_wait_s=30),
    routes=(
        Route(("pager",), (Matcher("severity", "critical"),), repeat_interval_s=3600,
              continue_matching=True),
        Route(("email", "slack"), (Matcher("service", "checkout"),
                                   Matcher("anomaly_type", "error_.*", regex=True))),
        Route(("never",), (Matcher("project", "acme-prod"),)),
    ),
)


def test_a_continuing_route_and_the_next_match_both_take_it() -> None:
    targets = TREE.targets(CRITICAL_CHECKOUT)
    assert [t.receiver for t in targets] == ["pager", "email", "slack"]
    assert targets[0].repeat_interval_s == 3600


def test_without_continue_the_first_match_stops_and_the_default_takes_the_rest() -> None:
    assert [t.receiver for t in TREE.targets(WARNING_SEARCH)] == ["never"]
    lonely = IncidentFacts("other/k8s_container/search", "warning", ("volume_spike",))
    [default] = TREE.targets(lonely)
    assert (default.receiver, default.group_wait_s) == ("slack", 30)


@pytest.mark.parametrize(("text", "facts", "matches"), [
    ("service=checkout", CRITICAL_CHECKOUT, True),
    ("anomaly_type=crash_loop", CRITICAL_CHECKOUT, True),  # any type it holds
    ("anomaly_type=~crash", CRITICAL_CHECKOUT, False),  # anchored, as in Alertmanager
    ("stream=~acme-prod/.*/search", WARNING_SEARCH, True),
    ("resource_type=k8s_container", CRITICAL_CHECKOUT, False),
    ("team=payments", CRITICAL_CHECKOUT, False),  # an absent label matches nothing
])
def test_matchers(text: str, facts: IncidentFacts, matches: bool) -> None:
    assert Matcher.parse(text).matches(facts) is matches


@pytest.mark.parametrize("text", ["service", "Service=x", "stream=~(", "=x"])
def test_a_bad_matcher_is_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="matcher"):
        Matcher.parse(text)
