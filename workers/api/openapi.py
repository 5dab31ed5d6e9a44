"""The OpenAPI 3.1 description of the API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from pipeline.anomaly import AnomalySeverity
from workers.api.params import MAX_LIMIT

JSON = "application/json"
SEVERITIES = [str(s) for s in AnomalySeverity]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
TIME = "A duration back from now (30m, 2h, 7d) or an RFC 3339 time."
PAGING = [
    _query("limit", "At most this many items.", type="integer", minimum=1, maximum=MAX_LIMIT),
    _query("cursor", "The next_cursor of the previous page."),
]
AUTH_ERRORS = {"400": _answer("A parameter is wrong; the error says which."),
               "401": _answer("No token, or not one this server knows.")}

ANOMALY = {
    "type": "object",
    "required": ["id", "start", "end", "project", "resource_type", "service", "stream", "type",
                 "severity", "score", "summary", "status", "fingerprint", "logs_url"],
    "properties": {
        "id": {"type": "string"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "project": {"type": "string"},
        "resource_type": {"type": "string"},
        "service": {"type": "string"},
        "stream": {"type": "string", "description": "project/resource_type/service"},
        "type": {"type": "string"},
        "severity": {"type": "string", "enum": SEVERITIES},
        "score": {"type": "number"},
        "summary": {"type": "string"},
        "status": {"type": "string"},
        "fingerprint": {"type": "string"},
        "logs_url": {"type": "string"},
        "verdict": {"type": ["object", "null"]},
        "findings": {"type": "array", "items": {"type": "object"}},
    },
}


def _page_of(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": _ref(item)},
                           "next_cursor": {"type": ["string", "null"]}}}


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
                *PAGING],
            "responses": {"200": _answer("One page.", "AnomalyPage"), **AUTH_ERRORS}}},
        "/anomalies/{id}": {"get": {
            "summary": "One anomaly, with its findings.",
            "parameters": [ID],
            "responses": {"200": _answer("The anomaly.", "Anomaly"), **AUTH_ERRORS,
                          "404": _answer("No such anomaly in the token's projects.")}}},
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
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "Health": {"type": "object", "required": ["status", "database"],
                           "properties": {"status": {"type": "string"},
                                          "database": {"type": "string"},
                                          "error": {"type": "string"}}},
                "Anomaly": ANOMALY,
                "AnomalyPage": _page_of("Anomaly"),
            },
        },
    }
