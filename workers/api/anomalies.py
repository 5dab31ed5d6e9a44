"""GET /anomalies and /anomalies/{id}: stored anomalies, newest first, of the token's
projects only."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.anomaly import AnomalySeverity
from pipeline.storage import Store
from pipeline.storage.anomaly_pages import AnomalyFilter, AnomalyReader
from workers.api.calls import Call, guarded
from workers.api.errors import not_found
from workers.api.params import Query, encode_cursor
from workers.api.tokens import TokenTable
from workers.listing import anomaly_json, template_texts

LIST_PARAMS = ("service", "stream", "type", "severity", "since", "until", "incident", "limit",
               "cursor")
SEVERITIES = tuple(str(s) for s in AnomalySeverity)


def anomaly_routes(store: Store, tokens: TokenTable,
                   now_ns: Callable[[], int] = time.time_ns) -> list[Route]:
    reader = AnomalyReader(store.engine)

    def list_anomalies(call: Call) -> Response:
        query = Query(call.request.query_params, LIST_PARAMS)
        now = now_ns()
        where = AnomalyFilter(
            projects=call.grant.projects,
            service=query.text("service"),
            stream=query.text("stream"),
            anomaly_type=query.text("type"),
            severity=query.choice("severity", SEVERITIES),
            since_ns=query.time_ns("since", now),
            until_ns=query.time_ns("until", now),
            incident_id=query.text("incident"),
        )
        page = reader.page(where, query.limit(), query.cursor())
        texts = template_texts(store, page.items)
        items = [{**anomaly_json(a, texts), "stream": str(a.stream)} for a in page.items]
        return JSONResponse({"items": items, "next_cursor": encode_cursor(page.next_key)})

    def get_anomaly(call: Call) -> Response:
        Query(call.request.query_params, ())
        anomaly = reader.get(call.path_id(), call.grant.projects)
        if anomaly is None:
            raise not_found("anomaly", call.path_id())
        texts = template_texts(store, [anomaly])
        return JSONResponse({**anomaly_json(anomaly, texts), "stream": str(anomaly.stream),
                             "findings": msgspec.to_builtins(list(anomaly.findings))})

    return [
        Route("/anomalies", guarded(tokens, list_anomalies), methods=["GET"]),
        Route("/anomalies/{id}", guarded(tokens, get_anomaly), methods=["GET"]),
    ]

