"""The HTTP API through the real door: `logwarden push` serving /api/v1 against real
Postgres, with two tenants' anomalies recorded by the real pipeline. A token sees its
projects and nothing of another's, not even whether an id exists."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import migrations
from pipeline.storage import Store, make_engine
from tests.conftest import throwaway_pg_database
from tests.fuzzing import FEW
from tests.integration.fleet import FleetConfig, query
from tests.integration.processes import ApiProcess, PushProcess
from tests.integration.tenants import bearer, record_tenant
from workers.api import TokenTable, make_api_app

pytestmark = pytest.mark.integration

A_READ = "a-read-token-0123456789abcdef"
A_WRITE = "a-write-token-0123456789abcdef"
B_WRITE = "b-write-token-0123456789abcdef"
EVERY_READ = "every-project-token-0123456789"
TOKENS = [
    {"name": "a-reader", "token": A_READ, "projects": ["acme-a"]},
    {"name": "a-writer", "token": A_WRITE, "projects": ["acme-a"], "access": "write"},
    {"name": "b-writer", "projects": ["acme-b"], "access": "write",
     "token_sha256": hashlib.sha256(B_WRITE.encode()).hexdigest()},
    {"name": "operator", "token": EVERY_READ, "projects": ["*"]},
]
API_ENV = {"LOGWARDEN_API__TOKENS": json.dumps(TOKENS)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetConfig]:
    """One database for the module: two tenants recorded once, read by every test."""
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        config = FleetConfig(url, f"lwtest-{uuid.uuid4().hex[:12]}:",
                             tmp_path_factory.mktemp("api"))
        record_tenant(config, "acme-a")
        record_tenant(config, "acme-b")
        yield config
        config.drop_redis_keys()


@pytest.fixture(scope="module")
def server(fleet: FleetConfig) -> Iterator[PushProcess]:
    push = PushProcess(fleet, "api-test-push-token", API_ENV)
    try:
        push.wait_ready()
        yield push
    finally:
        push.stop()


@pytest.fixture
def api(server: PushProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


def every_page(api: httpx.Client, token: str, **params: Any) -> list[dict[str, Any]]:
    """All anomalies the token lists, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = api.get("/anomalies", headers=bearer(token),
                         params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def stored_ids(fleet: FleetConfig, project: str) -> set[str]:
    rows = query(fleet.database_url, "SELECT id FROM anomalies WHERE stream LIKE :p",
                 p=f"{project}/%")
    return {row[0] for row in rows}


def test_health_answers_without_a_token(api: httpx.Client) -> None:
    answer = api.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("path", ["/anomalies", "/anomalies/any-id"])
def test_without_a_good_token_the_answer_is_401(api: httpx.Client, path: str) -> None:
    missing = api.get(path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="logwarden"'
    assert "Authorization: Bearer" in missing.json()["error"]
    for headers in (bearer("not-a-token-we-know-at-all"), {"Authorization": f"Basic {A_READ}"},
                    {"Authorization": "Bearer"}, bearer(A_READ + "x")):
        refused = api.get(path, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith('Bearer realm="logwarden"')


def test_a_token_lists_its_projects_anomalies_and_none_of_anothers(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    a_ids, b_ids = stored_ids(fleet, "acme-a"), stored_ids(fleet, "acme-b")
    assert a_ids and b_ids, "the pipeline recorded no anomaly for a tenant"
    as_a = every_page(api, A_READ)
    as_b = every_page(api, B_WRITE)
    assert {a["id"] for a in as_a} == a_ids
    assert {a["id"] for a in as_b} == b_ids
    assert {a["project"] for a in as_a} == {"acme-a"}
    assert {a["stream"] for a in as_b} == {"acme-b/cloud_run_revision/checkout"}
    # Both tenants run a service named checkout: filtering by it stays within the tenant.
    assert {a["id"] for a in every_page(api, A_READ, service="checkout")} == a_ids
    assert every_page(api, A_READ, stream="acme-b/cloud_run_revision/checkout") == []
    assert {a["id"] for a in every_page(api, EVERY_READ)} == a_ids | b_ids


def test_another_projects_anomaly_is_not_found_as_if_it_did_not_exist(
    fleet: FleetConfig, api: httpx.Client
) -> None:
    b_id = sorted(stored_ids(fleet, "acme-b"))[0]
    theirs = api.get(f"/anomalies/{b_id}", headers=bearer(A_READ))
    nobodys = api.get("/anomalies/no-such-anomaly", headers=bearer(A_READ))
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json()["error"] == nobodys.json()["error"].replace("no-such-anomaly", b_id)
    own = api.get(f"/anomalies/{b_id}", headers=bearer(B_WRITE))
    assert own.status_code == 200
    assert own.json()["project"] == "acme-b" and own.json()["findings"]


def test_pages_filters_and_times(api: httpx.Client) -> None:
    whole = every_page(api, EVERY_READ, limit=500)
    paged = every_page(api, EVERY_READ, limit=2)
    assert [a["id"] for a in paged] == [a["id"] for a in whole]
    assert [a["start"] for a in whole] == sorted((a["start"] for a in whole), reverse=True)
    critical = every_page(api, EVERY_READ, severity="critical")
    assert critical and {a["severity"] for a in critical} == {"critical"}
    assert {a["type"] for a in every_page(api, A_READ, type="error_burst")} == {"error_burst"}
    first = min(a["start"] for a in whole)
    assert every_page(api, EVERY_READ, until=first) == []
    assert len(every_page(api, EVERY_READ, since=first)) == len(whole)


@pytest.mark.parametrize(("params", "says"), [
    ({"project": "acme-b"}, "Unknown query parameter 'project'"),
    ({"limit": "0"}, "'limit' must be a whole number"),
    ({"severity": "loud"}, "'severity' must be one of"),
    ({"since": "yesterday"}, "'since':"),
    ({"cursor": "bm90LWEtY3Vyc29y"}, "'cursor' is not one this API gave out"),
])
def test_a_wrong_parameter_is_a_400_that_names_it(
    api: httpx.Client, params: dict[str, str], says: str
) -> None:
    answer = api.get("/anomalies", headers=bearer(A_READ), params=params)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(says)


def test_unknown_paths_and_methods_answer_json_sentences(api: httpx.Client) -> None:
    assert api.get("/nothing-here", headers=bearer(A_READ)).json()["error"].startswith("No such")
    wrong = api.delete("/anomalies", headers=bearer(A_WRITE))
    assert wrong.status_code == 405 and "method" in wrong.json()["error"]


def test_the_openapi_document_describes_the_routes(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    served = {(route.path, method.lower()) for route in make_api_app(
        Store(make_engine("sqlite://")), TokenTable([])).routes
        for method in getattr(route, "methods", None) or () if method != "HEAD"}
    described = {(path, method) for path, verbs in document["paths"].items() for method in verbs}
    assert served - {("/openapi.json", "get")} == described


def test_the_api_alone_says_when_its_database_does_not_answer(
    fleet: FleetConfig, tmp_path: Path
) -> None:
    gone = fleet.database_url.rsplit("/", 1)[0] + "/logwarden_no_such_database"
    alone = ApiProcess(fleet, {**API_ENV, "LOGWARDEN_DATABASE_URL": gone})
    try:
        alone.wait_ready()
        answer = httpx.get(f"{alone.url}/api/v1/health", timeout=30)
        assert answer.status_code == 503
        assert answer.json()["database"] == "unreachable"
        listed = httpx.get(f"{alone.url}/api/v1/anomalies", headers=bearer(A_READ), timeout=30)
        assert listed.status_code == 503 and listed.headers["retry-after"] == "30"
        assert listed.json()["error"].startswith("The database does not answer")
    finally:
        alone.stop()
    assert "logwarden_no_such_database" not in listed.text


def test_without_a_token_configured_the_api_is_off(fleet: FleetConfig) -> None:
    push = PushProcess(fleet, "api-test-push-token", name="push-without-api")
    try:
        push.wait_ready()
        assert httpx.get(f"{push.url}/api/v1/health", timeout=30).status_code == 404
    finally:
        push.stop()
    assert "the HTTP API is off" in push.log_path.read_text(errors="replace")


def test_no_token_reaches_the_servers_log(server: PushProcess, api: httpx.Client) -> None:
    for token in (A_READ, B_WRITE, "wrong-token-planted-1234567"):
        api.get("/anomalies", headers=bearer(token))
    log = server.log_path.read_text(errors="replace")
    assert "/api/v1" in log or "HTTP API" in log
    for token in (A_READ, A_WRITE, B_WRITE, EVERY_READ, "wrong-token-planted-1234567"):
        assert token not in log


QUERY_NAMES = st.sampled_from(["service", "stream", "type", "severity", "since", "until",
                               "limit", "cursor", "project", "id"])
QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["checkout", "acme-b/cloud_run_revision/checkout", "critical", "2h",
                     "2026-11-02T08:20:00Z", "0", "500", "501", "-1", "%", "_", "' OR 1=1 --",
                     "acme-b", "*"]),
)


@FEW
@given(params=st.dictionaries(QUERY_NAMES, QUERY_VALUES, max_size=4))
def test_any_query_answers_a_page_of_the_tenant_or_a_sentence(
    server: PushProcess, params: dict[str, str]
) -> None:
    """Whatever the query string, the answer is 200 with only the token's project, or a
    400 that says why; never a crash, never another tenant's row."""
    answer = httpx.get(f"{server.url}/api/v1/anomalies", params=params,
                       headers=bearer(A_READ), timeout=30)
    assert answer.status_code in (200, 400), (params, answer.text)
    body = answer.json()
    if answer.status_code == 400:
        assert body["error"].endswith("."), body
        return
    assert {a["project"] for a in body["items"]} <= {"acme-a"}
