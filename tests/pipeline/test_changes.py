"""Changes: new revisions in a stream's labels and audit entries that update a service."""

from __future__ import annotations

import random

import msgspec
import pytest

import pipeline.changes as changes_module
from pipeline.batch import Batch
from pipeline.changes import (
    Change,
    ChangeState,
    ChangeTracker,
    describe,
    latest_change,
    observe,
)
from tests.pipeline.detectors.factory import STREAM, T0, entry

AUDIT_LOG = "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity"


def batch(*entries) -> Batch:
    return Batch(STREAM, tuple(entries))


def served(at_s: float, revision: str, n: int = 0):
    return entry("GET /", at_s=at_s, n=n, resource_labels={"revision_name": revision})


def audit(at_s: float, method: str, *, refused: bool = False, log_name: str = AUDIT_LOG):
    payload = {
        "methodName": method,
        "resourceName": "namespaces/acme-prod/services/checkout",
        "status": {"code": 7} if refused else {},
        "response": {"status": {"latestCreatedRevisionName": "checkout-00042-vup"}},
    }
    return entry("audit", at_s=at_s, log_name=log_name, payload=payload)


def roundtrip(state: ChangeState) -> ChangeState:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=ChangeState)


def test_the_first_revision_is_not_a_change_and_a_new_one_is():
    changes, state = observe(batch(served(0, "checkout-00041")), ChangeState())
    assert changes == []
    changes, state = observe(
        batch(served(60, "checkout-00041"), served(70, "checkout-00042", 1)), roundtrip(state)
    )
    assert changes == [
        Change(
            "deploy",
            "checkout",
            T0 + 70 * 10**9,
            "revision checkout-00042",
            "revision_name",
            "checkout-00041",
            changes[0].entry_id,
        )
    ]
    assert latest_change(state, T0 + 600 * 10**9) == changes[0]


def test_a_rollout_mixing_old_and_new_revisions_is_one_change():
    state = observe(batch(served(0, "a")), ChangeState())[1]
    found = []
    for i in range(10):
        changes, state = observe(batch(served(60 + i, "a" if i % 2 else "b", i)), state)
        found += changes
    assert [c.subject for c in found] == ["revision b"]


@pytest.mark.parametrize("shown", [
    lambda v: {"labels": {"k8s-pod/pod-template-hash": v}},  # a pod label, on the entry
    lambda v: {"resource_labels": {"revision_name": v}},
    lambda v: {"payload": {"serviceContext": {"version": v}, "message": "GET /"}},
], ids=["entry label", "resource label", "serviceContext"])
def test_each_sign_of_a_version_is_read_among_entries_that_show_none(shown):
    """A version shown by one entry of a batch of plain ones, wherever the entry holds it:
    the batch is not passed over as one that can show no change."""
    plain = [entry("GET /", at_s=i, n=100 + i) for i in range(20)]
    first = entry("GET /", at_s=30, n=1, **shown("one"))
    state = observe(batch(*plain, first), ChangeState())[1]
    changes, _ = observe(batch(*plain, entry("GET /", at_s=90, n=2, **shown("two"))), state)
    assert [c.subject.split()[-1] for c in changes] == ["two"]
    assert observe(batch(*plain), state)[0] == []


def test_passing_over_batches_that_can_show_no_change_changes_no_result(monkeypatch):
    """Every batch read entry by entry finds the same changes and keeps the same state:
    version keys with and without values, in resource or entry labels, and a tracker
    that takes a label the explanations' counts leave out (project_id) as a version."""
    rng = random.Random(5)
    keys = ["revision_name", "version", "project_id", "zone"]

    def labels() -> dict[str, str]:
        return {k: rng.choice(["", "a", "b", "c"]) for k in rng.sample(keys, rng.randrange(3))}

    batches = [batch(*(entry("GET /", at_s=10 * b + i, n=i, resource_labels=labels(),
                             labels=labels() if rng.random() < 0.2 else {})
                       for i in range(rng.randrange(1, 6))))
               for b in range(300)]
    trackers = [ChangeTracker(), ChangeTracker(version_keys=("project_id", "zone"))]
    passed = [_run(t, batches) for t in trackers]
    monkeypatch.setattr(changes_module, "_may_show_changes", lambda entries, keys: True)
    assert [_run(t, batches) for t in trackers] == passed
    assert all(found for found, _ in passed)


def _run(tracker: ChangeTracker, batches: list[Batch]) -> tuple[list[Change], ChangeState]:
    found: list[Change] = []
    state = ChangeState()
    for b in batches:
        changes, state = tracker.observe(b, state)
        found += changes
    return found, state


def test_an_audit_entry_that_replaces_a_service_is_a_change():
    changes, state = observe(
        batch(audit(0, "google.cloud.run.v1.Services.ReplaceService")), ChangeState()
    )
    [change] = changes
    assert (change.kind, change.service, change.subject) == (
        "deploy",
        "checkout",
        "revision checkout-00042-vup",
    )
    # The revision's own entries then show it: the same deploy, not a second one.
    state = observe(batch(served(10, "checkout-00041")), state)[1]
    assert observe(batch(served(30, "checkout-00042-vup")), state)[0] == []


def test_reads_refusals_and_data_access_are_not_changes():
    reads = batch(
        audit(0, "google.cloud.run.v1.Services.GetService"),
        audit(1, "io.k8s.apps.v1.deployments.patch", refused=True),
        audit(
            2,
            "storage.objects.create",
            log_name="projects/p/logs/cloudaudit.googleapis.com%2Fdata_access",
        ),
    )
    assert observe(reads, ChangeState())[0] == []


def test_a_config_change_without_a_revision_names_the_call():
    payload = {
        "methodName": "io.k8s.apps.v1.deployments.patch",
        "resourceName": "apps/v1/namespaces/shop/deployments/cart",
    }
    changes, _ = observe(batch(entry("patch", log_name=AUDIT_LOG, payload=payload)), ChangeState())
    assert [(c.kind, c.service, c.subject) for c in changes] == [
        ("config", "cart", "patch on cart")
    ]


def test_describe_says_how_long_after_the_change_it_started():
    change = Change("deploy", "checkout", T0, "revision checkout-00042", "revision_name")
    assert describe(change, T0 + 12 * 60 * 10**9) == (
        "started 12 minutes after revision checkout-00042 was deployed"
    )
    config = Change("config", "cart", T0, "patch on cart")
    assert describe(config, T0 + 40 * 10**9) == (
        "started 40 seconds after a config change (patch on cart)"
    )
    assert describe(config, T0 - 120 * 10**9).startswith("started 2 minutes before")


def test_latest_change_ignores_later_and_old_changes():
    state = ChangeState(
        recent=[
            Change("deploy", "a", T0, "revision 1"),
            Change("deploy", "a", T0 + 3600 * 10**9, "revision 2"),
        ]
    )
    assert latest_change(state, T0 + 60 * 10**9).subject == "revision 1"
    assert latest_change(state, T0 + 8 * 3600 * 10**9, within_s=3600) is None
