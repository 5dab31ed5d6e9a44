"""Incidents, feedback and silences through the HTTP API of the real `logwarden push`
process, with a real notify worker and Postgres: two tenants' incidents recorded by the
real pipeline; acknowledging and resolving change state and send their messages; a
token never reads, changes or even finds another project's incident or silence."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import migrations
from tests.conftest import throwaway_pg_database
from tests.fuzzing import FEW
from tests.integration.cli_processes import CliWorker
from tests.integration.fleet import FleetConfig, alert_lines, ledger, query, wait_until
from tests.integration.processes import CommandProcess, PushProcess
from tests.integration.tenants import bearer, send_tenant

pytestmark = pytest.mark.integration

A_READ = "a-read-token-0123456789abcdef"
A_WRITE = "a-write-token-0123456789abcdef"
B_WRITE = "b-write-token-0123456789abcdef"
EVERY_WRITE = "every-project-token-0123456789"
TOKENS = [
    {"name": "a-reader", "token": A_READ, "projects": ["acme-a"]},
    {"name": "a-writer", "token": A_WRITE, "projects": ["acme-a"], "access": "write"},
    {"name": "b-writer", "token": B_WRITE, "projects": ["acme-b"], "access": "write"},
    {"name": "operator", "token": EVERY_WRITE, "projects": ["*"], "access": "write"},
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetConfig]:
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        config = FleetConfig(url, f"lwtest-{uuid.uuid4().hex[:12]}:",
                             tmp_path_factory.mktemp("api-incidents"))
        yield config
        config.drop_redis_keys()


@pytest.fixture(scope="module")
def server(fleet: FleetConfig) -> Iterator[PushProcess]:
    """A worker that detects and sends, fed both tenants' last half hour of logs, beat,
    and the push process serving the API. Incidents resolve after an hour's quiet here,
    so they are still firing while the tests run."""
    app = fleet.app()
    push = PushProcess(fleet, "api-test-push-token",
                       {"LOGWARDEN_API__TOKENS": json.dumps(TOKENS)})
    env = {**fleet.env(), "LOGWARDEN_INCIDENTS__RESOLVE_AFTER": "1h",
           "LOGWARDEN_LINKS__API_URL": f"{push.url}/api/v1"}
    worker = CliWorker(fleet, "fleet", ["--queues", "detect,notify"], env, children=1)
    beat = CommandProcess(fleet, "beat", ["beat", "--schedule", str(fleet.workdir / "beat")])
    try:
        worker.wait_ready(app)
        start = datetime.now(UTC) - timedelta(minutes=25)
        sent = sum(send_tenant(app, project, start) for project in ("acme-a", "acme-b"))
        wait_until(lambda: ledger(fleet.database_url)[0] == sent, 180,
                   f"the worker to record {sent} batches")
        push.wait_ready()
        yield push
    finally:
        push.stop()
        beat.stop()
        worker.stop()
        app.close()


@pytest.fixture
def api(server: PushProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


def incidents_of(api: httpx.Client, token: str, **params: str) -> list[dict[str, Any]]:
    answer = api.get("/incidents", headers=bearer(token), params={"limit": "500", **params})
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return list(answer.json()["items"])


def stored(fleet: FleetConfig, project: str) -> dict[str, tuple[str, int]]:
    """Each incident of `project`: its state and revision, straight from Postgres."""
    rows = query(fleet.database_url,
                 "SELECT id, status, revision FROM alerts WHERE project = :p", p=project)
    return {row[0]: (row[1], row[2]) for row in rows}


def messages_about(fleet: FleetConfig, incident_id: str) -> list[str]:
    """The kinds of message the file receiver got for the incident, in order."""
    return [line["kind"] for line in alert_lines(fleet.alerts_file)
            if line.get("alert_id") == incident_id]


WRITES = [("post", "/incidents/{id}/ack", {}), ("post", "/incidents/{id}/resolve", {}),
          ("post", "/incidents/{id}/feedback", {"label": "expected"})]


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/incidents"), ("get", "/incidents/x"), ("post", "/incidents/x/ack"),
    ("post", "/incidents/x/resolve"), ("post", "/incidents/x/feedback"),
    ("get", "/silences"), ("post", "/silences"), ("delete", "/silences/x")])
def test_every_endpoint_wants_a_token(api: httpx.Client, method: str, path: str) -> None:
    answer = api.request(method.upper(), path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_token_lists_and_reads_its_projects_incidents_only(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    a_ids, b_ids = set(stored(fleet, "acme-a")), set(stored(fleet, "acme-b"))
    assert a_ids and b_ids, "the pipeline opened no incident for a tenant"
    assert {i["id"] for i in incidents_of(api, A_READ)} == a_ids
    assert {i["id"] for i in incidents_of(api, B_WRITE)} == b_ids
    assert {i["id"] for i in incidents_of(api, EVERY_WRITE)} == a_ids | b_ids
    assert {i["project"] for i in incidents_of(api, A_READ, service="checkout")} == {"acme-a"}
    one = api.get(f"/incidents/{sorted(a_ids)[0]}", headers=bearer(A_READ)).json()
    assert one["project"] == "acme-a" and one["notifications"]
    evidence = api.get("/anomalies", headers=bearer(A_READ),
                       params={"incident": one["id"], "limit": "500"}).json()["items"]
    assert len(evidence) == one["anomalies"]
    assert {a["project"] for a in evidence} == {"acme-a"}
    theirs = sorted(b_ids)[0]
    assert api.get("/anomalies", headers=bearer(A_READ),
                   params={"incident": theirs}).json()["items"] == []


def test_another_projects_incident_is_not_found_for_any_verb(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    before = stored(fleet, "acme-b")
    theirs = sorted(before)[0]
    for method, path, body in [("get", "/incidents/{id}", None), *WRITES]:
        answers = [api.request(method.upper(), path.format(id=ident), headers=bearer(A_WRITE),
                               json=body) for ident in (theirs, "no-such-incident")]
        assert [a.status_code for a in answers] == [404, 404], (path, answers[0].text)
        assert answers[0].json()["error"] == answers[1].json()["error"].replace(
            "no-such-incident", theirs)
    assert stored(fleet, "acme-b") == before
    assert query(fleet.database_url, "SELECT count(*) FROM feedback")[0][0] == 0


def test_a_read_only_token_changes_nothing(fleet: FleetConfig, api: httpx.Client) -> None:
    before = stored(fleet, "acme-a")
    for method, path, body in WRITES:
        answer = api.request(method.upper(), path.format(id=sorted(before)[0]),
                             headers=bearer(A_READ), json=body)
        assert answer.status_code == 403
        assert "may only read" in answer.json()["error"]
    assert stored(fleet, "acme-a") == before


def test_acknowledge_then_resolve_change_state_and_tell_the_receivers(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    firing = incidents_of(api, A_WRITE, state="firing")
    assert firing, "no firing incident to acknowledge"
    ident = firing[0]["id"]
    wait_until(lambda: "firing" in messages_about(fleet, ident), 60, "the page to go out")
    acked = api.post(f"/incidents/{ident}/ack", headers=bearer(A_WRITE), json={"by": "ana"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "ana (via a-writer)"
    assert stored(fleet, "acme-a")[ident][0] == "acknowledged"
    wait_until(lambda: "acknowledged" in messages_about(fleet, ident), 60,
               "the acknowledgement to reach the receiver")

    resolved = api.post(f"/incidents/{ident}/resolve", headers=bearer(A_WRITE))
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert resolved.json()["resolved_by"] == "a-writer"
    wait_until(lambda: "resolved" in messages_about(fleet, ident), 60,
               "the resolved notice to reach the receiver")
    assert messages_about(fleet, ident)[-2:] == ["acknowledged", "resolved"]
    late = api.post(f"/incidents/{ident}/ack", headers=bearer(A_WRITE))
    assert late.status_code == 409 and "resolved already" in late.json()["error"]
    detail = api.get(f"/incidents/{ident}", headers=bearer(A_READ)).json()
    assert detail["state"] == "resolved"
    sent = [(n["kind"], n["status"]) for n in detail["notifications"] if n["status"] == "sent"]
    assert sent[-2:] == [("acknowledged", "sent"), ("resolved", "sent")]


def test_feedback_on_an_own_incident_is_recorded(fleet: FleetConfig, api: httpx.Client) -> None:
    ident = sorted(stored(fleet, "acme-b"))[0]
    given = api.post(f"/incidents/{ident}/feedback", headers=bearer(B_WRITE),
                     json={"label": "false_positive", "comment": "load test", "for": "7d"})
    assert given.status_code == 201, given.text
    assert given.json()["label"] == "false_positive" and given.json()["expires_at"]
    wrong = api.post(f"/incidents/{ident}/feedback", headers=bearer(B_WRITE),
                     json={"label": "meh"})
    assert wrong.status_code == 400 and "'label' must be one of" in wrong.json()["error"]


def test_silences_belong_to_one_project(api: httpx.Client) -> None:
    made = api.post("/silences", headers=bearer(A_WRITE), json={
        "matchers": ["service=checkout", "anomaly_type=~error_.*"], "duration": "2h",
        "comment": "db failover drill", "by": "ana"})
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["project"] == "acme-a" and silence["active"]
    assert silence["author"] == "ana (via a-writer)"

    def listed(token: str, state: str = "active") -> list[str]:
        answer = api.get("/silences", headers=bearer(token), params={"state": state})
        return [s["id"] for s in answer.json()["items"]]

    assert silence["id"] in listed(A_READ)
    assert silence["id"] not in listed(B_WRITE)
    assert silence["id"] in listed(EVERY_WRITE)
    assert api.delete(f"/silences/{silence['id']}", headers=bearer(B_WRITE)).status_code == 404
    assert api.delete(f"/silences/{silence['id']}", headers=bearer(A_READ)).status_code == 403
    assert silence["id"] in listed(A_READ)
    other = api.post("/silences", headers=bearer(A_WRITE), json={
        "matchers": ["service=checkout"], "duration": "1h", "comment": "x",
        "project": "acme-b"})
    assert other.status_code == 403
    assert api.delete(f"/silences/{silence['id']}", headers=bearer(A_WRITE)).status_code == 204
    assert silence["id"] not in listed(A_READ)
    assert silence["id"] in listed(A_READ, "all")


@pytest.mark.parametrize(("body", "says"), [
    ({"duration": "2h", "comment": "c"}, "'matchers' is required"),
    ({"matchers": ["service"], "duration": "2h", "comment": "c"}, "Matcher 'service'"),
    ({"matchers": ["service=x"], "comment": "c"}, "Give exactly one of 'duration'"),
    ({"matchers": ["service=x"], "duration": "2h"}, "'comment' is required"),
    ({"matchers": ["service=x"], "duration": "soon", "comment": "c"}, "'duration' must be"),
    ({"matchers": ["service=x"], "duration": "2h", "comment": "c", "until": "x"},
     "Unknown field 'until'"),
    ({"matchers": ["service=~(a+)+$"], "duration": "2h", "comment": "c"},
     "Matcher 'service=~(a+)+$' repeats a repetition"),
    ({"matchers": ["service=x"], "duration": "2h", "comment": "c", "by": "x" * 201},
     "'by' may be at most 200 characters"),
])
def test_a_wrong_silence_is_a_400_that_says_why(
    api: httpx.Client, body: dict[str, Any], says: str
) -> None:
    answer = api.post("/silences", headers=bearer(A_WRITE), json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(says)


def test_the_api_line_in_a_page_acknowledges_its_incident(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    """The firing message says how to acknowledge through the API; doing just that works."""
    (ident,) = stored(fleet, "acme-b")
    page = next(line for line in alert_lines(fleet.alerts_file)
                if line["alert_id"] == ident and line["kind"] == "firing")
    (line,) = [a for a in page["actions"] if a.startswith("curl ")]
    url = line.rsplit(" ", 1)[1]
    assert url.endswith(f"/incidents/{ident}/ack")
    answer = httpx.post(url, headers=bearer(B_WRITE), timeout=30)
    assert answer.status_code == 200 and answer.json()["state"] == "acknowledged"
    wait_until(lambda: "acknowledged" in messages_about(fleet, ident), 60,
               "the acknowledgement to reach the receiver")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.sampled_from(["2h", "0s", "99999d", "service=checkout", "stream=~acme-b/.*",
                       "2026-11-02T08:00:00Z", "9999-12-31T23:00:00Z",
                       "0001-01-01T00:00:00-01:00", "acme-a", "acme-b", "*", "x" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6)
SILENCE_FIELDS = st.sampled_from(["matchers", "duration", "starts_at", "ends_at", "comment",
                                  "by", "project", "label"])


@FEW
@given(body=st.dictionaries(SILENCE_FIELDS, JSON_VALUES, max_size=6))
def test_any_silence_body_is_made_in_the_tokens_project_or_refused_with_a_sentence(
    server: PushProcess, body: dict[str, Any]
) -> None:
    answer = httpx.post(f"{server.url}/api/v1/silences", json=body, headers=bearer(A_WRITE),
                        timeout=30)
    assert answer.status_code in (201, 400, 403), (body, answer.text)
    if answer.status_code == 201:
        assert answer.json()["project"] == "acme-a"
        assert httpx.delete(f"{server.url}/api/v1/silences/{answer.json()['id']}",
                            headers=bearer(A_WRITE), timeout=30).status_code == 204
    else:
        assert answer.json()["error"].endswith("."), answer.text


INCIDENT_QUERY = st.dictionaries(
    st.sampled_from(["state", "service", "stream", "type", "severity", "since", "until",
                     "limit", "cursor", "project"]),
    st.text(max_size=20) | st.sampled_from(["open", "firing", "checkout", "1h", "2", "acme-b"]),
    max_size=4)


@FEW
@given(params=INCIDENT_QUERY)
def test_any_incident_query_answers_the_tokens_incidents_or_a_sentence(
    server: PushProcess, params: dict[str, str]
) -> None:
    answer = httpx.get(f"{server.url}/api/v1/incidents", params=params,
                       headers=bearer(A_READ), timeout=30)
    assert answer.status_code in (200, 400), (params, answer.text)
    if answer.status_code == 200:
        assert {i["project"] for i in answer.json()["items"]} <= {"acme-a"}
