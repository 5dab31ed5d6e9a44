"""The OpenAPI 3.1 description of the API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from workers.api.openapi_schemas import BY, FEEDBACK, NEW_SILENCE, SCHEMAS, SEVERITIES, ref
from workers.api.params import MAX_LIMIT

JSON = "application/json"


def _answer(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
TIME = "A duration back from now (30m, 2h, 7d) or an RFC 3339 time."
PAGING = [
    _query("limit", "At most this many items.", type="integer", minimum=1, maximum=MAX_LIMIT),
    _query("cursor", "The next_cursor of the previous page."),
]
COMMON_ERRORS = {"400": _answer("A parameter is wrong; the error says which."),
                 "401": _answer("No token, or not one this server knows."),
                 "503": _answer("The database does not answer (see Retry-After).")}

def _body(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


WRITE_ERRORS = {**COMMON_ERRORS, "403": _answer("The token may only read."),
                "404": _answer("Not found in the token's projects.")}


def _change(summary: str, body: dict[str, Any], answer: str) -> dict[str, Any]:
    return {"post": {"summary": summary, "parameters": [ID],
                     "requestBody": _body(body, body is not BY),
                     "responses": {"200": _answer("The incident now.", answer),
                                   **WRITE_ERRORS}}}


def _incident_paths() -> dict[str, Any]:
    states = ["firing", "acknowledged", "resolved", "open"]
    return {
        "/incidents": {"get": {
            "summary": "Incidents of the token's projects, most recently active first.",
            "parameters": [
                _query("state", "open is firing or acknowledged.", type="string", enum=states),
                _query("service", "Only this service."),
                _query("stream", "Only this stream."),
                _query("type", "Only incidents whose worst anomaly is of this type."),
                _query("severity", "Only this severity.", type="string", enum=SEVERITIES),
                _query("since", f"Still active at or after this. {TIME}"),
                _query("until", f"Begun before this. {TIME}"),
                *PAGING],
            "responses": {"200": _answer("One page.", "IncidentPage"), **COMMON_ERRORS}}},
        "/incidents/{id}": {"get": {
            "summary": "One incident, with every notification sent about it.",
            "parameters": [ID],
            "responses": {"200": _answer("The incident.", "Incident"), **COMMON_ERRORS,
                          "404": _answer("No such incident in the token's projects.")}}},
        "/incidents/{id}/ack": _change(
            "Acknowledge: mutes it until it resolves; its receivers hear who took it.", BY,
            "Incident"),
        "/incidents/{id}/resolve": _change(
            "Resolve it; the resolved notice goes wherever it was paged.", BY, "Incident"),
        "/incidents/{id}/feedback": {"post": {
            "summary": "Expected, or a false positive: a label, and a suppression.",
            "parameters": [ID], "requestBody": _body(FEEDBACK, True),
            "responses": {"201": {"description": "Recorded."}, **WRITE_ERRORS}}},
        "/silences": {
            "get": {"summary": "Silences of the token's projects.",
                    "parameters": [_query("state", "active (default) or all.", type="string",
                                          enum=["active", "all"])],
                    "responses": {"200": _answer("Them.", "SilencePage"), **COMMON_ERRORS}},
            "post": {"summary": "Mute the incidents the matchers all match, for a while.",
                     "requestBody": _body(NEW_SILENCE, True),
                     "responses": {"201": _answer("The silence.", "Silence"),
                                   **WRITE_ERRORS}}},
        "/silences/{id}": {"delete": {
            "summary": "Expire a silence now (it stays listed).", "parameters": [ID],
            "responses": {"204": {"description": "Expired."}, **WRITE_ERRORS}}},
    }


def _paths() -> dict[str, Any]:
    return {
        "/health": {"get": {
            "summary": "Whether the server and its database answer (no token needed).",
            "security": [],
            "responses": {"200": _answer("Serving.", "Health"),
                          "503": _answer("The database does not answer.", "Health")}}},
        "/anomalies": {"get": {
            "summary": "Anomalies of the token's projects, newest first.",
            "parameters": [
                _query("service", "Only this service."),
                _query("stream", "Only this stream: project/resource_type/service."),
                _query("type", "Only this anomaly type, e.g. error_burst."),
                _query("severity", "Only this severity.", type="string", enum=SEVERITIES),
                _query("since", f"Only anomalies starting at or after this. {TIME}"),
                _query("until", f"Only anomalies starting before this. {TIME}"),
                _query("incident", "Only the anomalies folded into this incident."),
                *PAGING],
            "responses": {"200": _answer("One page.", "AnomalyPage"), **COMMON_ERRORS}}},
        "/anomalies/{id}": {"get": {
            "summary": "One anomaly, with its findings.",
            "parameters": [ID],
            "responses": {"200": _answer("The anomaly.", "Anomaly"), **COMMON_ERRORS,
                          "404": _answer("No such anomaly in the token's projects.")}}},
        **_incident_paths(),
    }


def openapi_document(prefix: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Logwarden API", "version": "1",
                 "description": "Anomalies, incidents and silences of the projects a "
                                "bearer token is scoped to."},
        "servers": [{"url": prefix}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }
