"""GET and POST /silences, DELETE /silences/{id} (expires it; it stays listed).

A silence belongs to one project and mutes only that project's incidents. A token of
one project makes silences of it; a token of several names the project; a token of
every project may also make one that mutes every project (no `project`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.incidents import Matcher
from pipeline.storage.incident_store import IncidentStore
from workers.api.calls import Call, guarded
from workers.api.errors import ApiError, not_found
from workers.api.params import MAX_COMMENT_CHARS, Body, Query
from workers.api.regex_guard import backtracks
from workers.api.tokens import Grant, TokenTable
from workers.api.views import silence_json

MAX_MATCHERS = 20
MAX_MATCHER_CHARS = 300
FIELDS = ("matchers", "duration", "starts_at", "ends_at", "comment", "by", "project")
STATES = ("active", "all")


def silence_routes(incidents: IncidentStore, tokens: TokenTable,
                   clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Route]:
    def list_silences(call: Call) -> Response:
        query = Query(call.request.query_params, ("state",))
        active_only = (query.choice("state", STATES) or "active") == "active"
        found = incidents.silences(active_only=active_only, projects=call.grant.projects)
        now = clock()
        return JSONResponse({"items": [silence_json(s, now) for s in found],
                             "next_cursor": None})

    def add_silence(call: Call) -> Response:
        body = Body(call.body, FIELDS)
        starts_at = body.time("starts_at")
        start = starts_at or clock()
        try:
            silence = incidents.add_silence(
                _matchers(body.raw("matchers")), duration=_length(body, start),
                author=call.actor(body.text("by")), comment=_comment(body), starts_at=starts_at,
                project=_project(call.grant, body.text("project")))
        except ValueError as exc:
            raise ApiError(400, f"{_sentence(exc)}") from None
        call.audit("silence", silence.id)
        return JSONResponse(silence_json(silence, clock()), status_code=201)

    def expire_silence(call: Call) -> Response:
        Query(call.request.query_params, ())
        if not incidents.expire_silence(call.path_id(), call.grant.projects):
            raise not_found("silence in force", call.path_id())
        call.audit("expire silence", call.path_id())
        return Response(status_code=204)

    return [
        Route("/silences", guarded(tokens, list_silences), methods=["GET"]),
        Route("/silences", guarded(tokens, add_silence, write=True), methods=["POST"]),
        Route("/silences/{id}", guarded(tokens, expire_silence, write=True),
              methods=["DELETE"]),
    ]


def _comment(body: Body) -> str:
    return body.text("comment", required=True, max_chars=MAX_COMMENT_CHARS) or ""


def _matchers(raw: Any) -> list[Matcher]:
    """`["service=checkout", "anomaly_type=~error_.*"]`, or objects {name, value, regex}."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MATCHERS:
        raise ApiError(400, f"'matchers' is required: a list of 1 to {MAX_MATCHERS} like "
                            "[\"service=checkout\"].")
    found = []
    for item in raw:
        try:
            found.append(_matcher(item))
        except ValueError as exc:
            raise ApiError(400, _sentence(exc)) from None
    return found


def _matcher(item: Any) -> Matcher:
    if isinstance(item, dict) and set(item) <= {"name", "value", "regex"}:
        item = f"{item.get('name')}{'=~' if item.get('regex') else '='}{item.get('value')}"
    if not isinstance(item, str) or len(item) > MAX_MATCHER_CHARS:
        raise ValueError(f"matcher {str(item)[:80]!r} is neither 'name=value' (at most "
                         f"{MAX_MATCHER_CHARS} characters) nor {{name, value, regex}}")
    matcher = Matcher.parse(item)
    if matcher.regex and backtracks(matcher.value):
        raise ValueError(f"matcher {item!r} repeats a repetition, which can take the "
                         "senders exponential time; write it without the nesting")
    return matcher


def _length(body: Body, start: datetime) -> timedelta:
    seconds, ends_at = body.duration_s("duration"), body.time("ends_at")
    if (seconds is None) == (ends_at is None):
        raise ApiError(400, "Give exactly one of 'duration' (like 2h) and 'ends_at'.")
    if ends_at is not None:
        if ends_at <= start:
            raise ApiError(400, "'ends_at' must come after the silence starts.")
        return ends_at - start
    assert seconds is not None
    return timedelta(seconds=seconds)


def _project(grant: Grant, named: str | None) -> str | None:
    """The project the silence belongs to; None (every project) only for a token of
    every project that names none."""
    if grant.projects is None:
        return named
    if named is None:
        if len(grant.projects) > 1:
            raise ApiError(400, "This token sees several projects; name the silence's "
                                f"'project', one of {', '.join(sorted(grant.projects))}.")
        return next(iter(grant.projects))
    if named not in grant.projects:
        raise ApiError(403, f"The token {grant.name!r} may not silence project {named!r}.")
    return named


def _sentence(exc: Exception) -> str:
    text = str(exc)
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."
