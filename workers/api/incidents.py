"""GET /incidents and /incidents/{id}; POST /incidents/{id}/ack, /resolve, /feedback.

Reads page through the incidents' table; every change goes through `IncidentStore`,
the same verbs as the CLI, scoped to the token's projects. A change that queued a
message (acknowledged, resolved) wakes the senders at once rather than at the next
outbox sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.anomaly import AnomalySeverity
from pipeline.incidents import IncidentState
from pipeline.storage.feedback import FeedbackLabel
from pipeline.storage.incident_pages import IncidentFilter, IncidentReader
from pipeline.storage.incident_store import IncidentStore
from pipeline.storage.records import StoredAlert
from workers.api.calls import Call, guarded
from workers.api.errors import ApiError, not_found
from workers.api.params import MAX_COMMENT_CHARS, Body, Query, encode_cursor
from workers.api.tokens import TokenTable
from workers.api.views import delivery_json, feedback_json, incident_json

LIST_PARAMS = ("state", "service", "stream", "type", "severity", "since", "until", "limit",
               "cursor")
STATES = {s.value: (s.value,) for s in IncidentState} | {
    "open": (IncidentState.FIRING.value, IncidentState.ACKNOWLEDGED.value)}
SEVERITIES = tuple(str(s) for s in AnomalySeverity)
LABELS = tuple(label.value for label in FeedbackLabel)


def incident_routes(incidents: IncidentStore, tokens: TokenTable, notify_now: Callable[[], None],
                    now_ns: Callable[[], int] = time.time_ns) -> list[Route]:
    reader = IncidentReader(incidents.engine)

    def list_incidents(call: Call) -> Response:
        query = Query(call.request.query_params, LIST_PARAMS)
        now = now_ns()
        state = query.choice("state", STATES)
        where = IncidentFilter(
            projects=call.grant.projects, states=STATES[state] if state else None,
            severity=query.choice("severity", SEVERITIES), service=query.text("service"),
            stream=query.text("stream"), anomaly_type=query.text("type"),
            since_ns=query.time_ns("since", now), until_ns=query.time_ns("until", now))
        page = reader.page(where, query.limit(), query.cursor())
        return JSONResponse({"items": [incident_json(i) for i in page.items],
                             "next_cursor": encode_cursor(page.next_key)})

    def get_incident(call: Call) -> Response:
        Query(call.request.query_params, ())
        incident = _visible(incidents.get(call.path_id(), call.grant.projects), call)
        history = incidents.history(incident.id, call.grant.projects)
        return JSONResponse({**incident_json(incident),
                             "notifications": [delivery_json(d) for d in history]})

    def acknowledge(call: Call) -> Response:
        body = Body(call.body, ("by",))
        incident = _visible(incidents.get(call.path_id(), call.grant.projects), call)
        if incident.status == IncidentState.RESOLVED.value:
            raise ApiError(409, f"Incident {incident.id!r} is resolved already; there is "
                                "nothing to acknowledge.")
        done = _visible(incidents.acknowledge(incident.id, call.actor(body.text("by")),
                                              call.grant.projects), call)
        return _changed(call, "acknowledge", incident, done, notify_now)

    def resolve(call: Call) -> Response:
        body = Body(call.body, ("by",))
        incident = _visible(incidents.get(call.path_id(), call.grant.projects), call)
        done = _visible(incidents.resolve(incident.id, call.actor(body.text("by")),
                                          call.grant.projects), call)
        return _changed(call, "resolve", incident, done, notify_now)

    def give_feedback(call: Call) -> Response:
        body = Body(call.body, ("label", "comment", "suppress", "for", "by"))
        label = FeedbackLabel(body.choice("label", LABELS))
        seconds = body.duration_s("for")
        given = incidents.add_feedback(
            call.path_id(), label, author=call.actor(body.text("by")),
            comment=body.text("comment", max_chars=MAX_COMMENT_CHARS) or "",
            suppress=body.flag("suppress", default=True),
            duration=None if seconds is None else timedelta(seconds=seconds),
            projects=call.grant.projects)
        if given is None:
            raise not_found("incident", call.path_id())
        call.audit(f"feedback {label.value}", call.path_id())
        return JSONResponse(feedback_json(given), status_code=201)

    def _visible(incident: StoredAlert | None, call: Call) -> StoredAlert:
        if incident is None:
            raise not_found("incident", call.path_id())
        return incident

    return [
        Route("/incidents", guarded(tokens, list_incidents), methods=["GET"]),
        Route("/incidents/{id}", guarded(tokens, get_incident), methods=["GET"]),
        Route("/incidents/{id}/ack", guarded(tokens, acknowledge, write=True), methods=["POST"]),
        Route("/incidents/{id}/resolve", guarded(tokens, resolve, write=True), methods=["POST"]),
        Route("/incidents/{id}/feedback", guarded(tokens, give_feedback, write=True),
              methods=["POST"]),
    ]


def _changed(call: Call, action: str, before: StoredAlert, after: StoredAlert,
             notify_now: Callable[[], None]) -> Response:
    if after.status != before.status:  # its receivers have a message queued: send it now
        call.audit(action, after.id)
        notify_now()
    return JSONResponse(incident_json(after))
