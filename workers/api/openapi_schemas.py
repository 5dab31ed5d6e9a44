"""The JSON schemas of the OpenAPI description: what the API answers and takes."""

from __future__ import annotations

from typing import Any

from pipeline.anomaly import AnomalySeverity

SEVERITIES = [str(s) for s in AnomalySeverity]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": ref(item)},
                           "next_cursor": {"type": ["string", "null"]}}}


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


INCIDENT = {
    "type": "object",
    "required": ["id", "state", "severity", "title", "project", "service", "stream",
                 "anomalies", "first_seen", "last_seen"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
        "severity": {"type": "string", "enum": SEVERITIES},
        "title": {"type": "string"}, "summary": {"type": "string"},
        "project": {"type": "string"}, "service": {"type": "string"},
        "stream": {"type": "string"}, "type": {"type": "string"},
        "types": {"type": "array", "items": {"type": "string"}},
        "anomalies": {"type": "integer"},
        "first_seen": {"type": "string", "format": "date-time"},
        "last_seen": {"type": "string", "format": "date-time"},
        "opened_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
        "acknowledged_by": {"type": ["string", "null"]},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "resolved_by": {"type": ["string", "null"]},
        "revision": {"type": "integer"},
        "details": {"type": "array", "items": {"type": "string"}},
        "samples": {"type": "array", "items": {"type": "string"}},
        "logs_url": {"type": "string"},
        "notifications": {"type": "array", "items": {"type": "object"}},
    },
}
SILENCE = {
    "type": "object",
    "required": ["id", "project", "matchers", "starts_at", "ends_at", "active", "author",
                 "comment"],
    "properties": {
        "id": {"type": "string"}, "project": {"type": ["string", "null"]},
        "matchers": {"type": "array", "items": {"type": "string"}},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "active": {"type": "boolean"}, "author": {"type": "string"},
        "comment": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
NEW_SILENCE = {
    "type": "object", "required": ["matchers", "comment"], "additionalProperties": False,
    "properties": {
        "matchers": {"type": "array", "minItems": 1, "items": {"type": "string"},
                     "description": "name=value or name=~regex, on service, stream, "
                                    "project, resource_type, severity, anomaly_type"},
        "duration": {"type": "string", "description": "30m, 2h, 7d (or give ends_at)"},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "comment": {"type": "string"},
        "by": {"type": "string", "description": "who asks; recorded with the token's name"},
        "project": {"type": "string", "description": "needed when the token sees several"},
    },
}
FEEDBACK = {
    "type": "object", "required": ["label"], "additionalProperties": False,
    "properties": {
        "label": {"type": "string", "enum": ["expected", "false_positive"]},
        "comment": {"type": "string"},
        "suppress": {"type": "boolean", "default": True,
                     "description": "mute new anomalies of its template on its stream"},
        "for": {"type": "string", "description": "how long the suppression holds (7d); "
                                                 "until the template changes without it"},
        "by": {"type": "string"},
    },
}
BY = {"type": "object", "additionalProperties": False,
      "properties": {"by": {"type": "string", "description": "who; recorded with the token"}}}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}},
    "Health": {"type": "object", "required": ["status", "database"],
               "properties": {"status": {"type": "string"}, "database": {"type": "string"},
                              "error": {"type": "string"}}},
    "Anomaly": ANOMALY,
    "AnomalyPage": page_of("Anomaly"),
    "Incident": INCIDENT,
    "IncidentPage": page_of("Incident"),
    "Silence": SILENCE,
    "SilencePage": page_of("Silence"),
}
