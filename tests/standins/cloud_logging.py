"""A local gRPC server speaking `google.logging.v2`, for google-cloud-logging's real clients.

LoggingServiceV2: ListLogEntries (pages of `page_size`, the filter's `timestamp` bounds
applied, the rest of the filter only recorded) and TailLogEntries (entries handed in by
the test with `.tail()`). ConfigServiceV2: GetSink, CreateSink, UpdateSink. `.book`
counts calls and refuses on demand (see calls.CallBook).
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from concurrent import futures
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc
from google.cloud.logging_v2.types import LogEntry, LogSink
from google.cloud.logging_v2.types import logging as api
from google.cloud.logging_v2.types import logging_config as config

from tests.standins.calls import CallBook

_BOUND = re.compile(r'timestamp\s*(>=|>|<=|<)\s*"([^"]+)"')
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
WRITER = "serviceAccount:service-{n}@gcp-sa-logging.iam.gserviceaccount.com"


class CloudLoggingStandIn:
    """Cloud Logging on 127.0.0.1; `.host` is what `gcp.logging_endpoint` should hold."""

    def __init__(self, entries: list[LogEntry] | None = None, *, page_size: int = 50) -> None:
        self.entries = sorted(entries or [], key=lambda e: _at(e.timestamp))
        self.page_size = page_size
        self.sinks: dict[str, LogSink] = {}
        self.list_requests: list[api.ListLogEntriesRequest] = []
        self.tail_requests: list[api.TailLogEntriesRequest] = []
        self.book = CallBook()
        # ListLogEntries call number -> the error it answers (once), e.g. a quota
        self.list_failures: dict[int, tuple[grpc.StatusCode, str]] = {}
        self._tail: queue.Queue[list[LogEntry] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8), interceptors=[self.book]
        )
        self._server.add_generic_rpc_handlers((self._logging_handler(), self._config_handler()))
        self.host = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def __enter__(self) -> CloudLoggingStandIn:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tail.put(None)
        self._server.stop(0.5).wait()

    def tail(self, entries: list[LogEntry] | None) -> None:
        """Sends `entries` to open tails as one response; None ends the tail stream."""
        self._tail.put(entries)

    # LoggingServiceV2

    def _list(
        self, request: api.ListLogEntriesRequest, context: grpc.ServicerContext
    ) -> api.ListLogEntriesResponse:
        with self._lock:
            self.list_requests.append(request)
            failure = self.list_failures.pop(len(self.list_requests), None)
        if failure is not None:
            context.abort(*failure)
        bounds = [(op, _parse(value)) for op, value in _BOUND.findall(request.filter)]
        matching = [
            e for e in self.entries if all(_OPS[op](_at(e.timestamp), v) for op, v in bounds)
        ]
        if request.order_by.endswith("desc"):
            matching.reverse()
        start = int(request.page_token or 0)
        size = min(request.page_size or self.page_size, self.page_size)
        page = matching[start : start + size]
        more = start + size < len(matching)
        return api.ListLogEntriesResponse(
            entries=page, next_page_token=str(start + size) if more else ""
        )

    def _tail_stream(
        self, requests: Iterator[api.TailLogEntriesRequest], context: grpc.ServicerContext
    ) -> Iterator[api.TailLogEntriesResponse]:
        first = next(requests)
        with self._lock:
            self.tail_requests.append(first)
        while context.is_active():
            try:
                entries = self._tail.get(timeout=0.1)
            except queue.Empty:
                continue
            if entries is None:
                return
            yield api.TailLogEntriesResponse(entries=entries)

    def _logging_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "google.logging.v2.LoggingServiceV2",
            {
                "ListLogEntries": _unary(
                    self._list, api.ListLogEntriesRequest, api.ListLogEntriesResponse
                ),
                "TailLogEntries": grpc.stream_stream_rpc_method_handler(
                    self._tail_stream,
                    request_deserializer=api.TailLogEntriesRequest.deserialize,
                    response_serializer=api.TailLogEntriesResponse.serialize,
                ),
            },
        )

    # ConfigServiceV2

    def _get_sink(self, request: config.GetSinkRequest, context: grpc.ServicerContext) -> LogSink:
        with self._lock:
            sink = self.sinks.get(request.sink_name)
        if sink is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Sink {request.sink_name} does not exist")
        return sink

    def _create_sink(
        self, request: config.CreateSinkRequest, context: grpc.ServicerContext
    ) -> LogSink:
        name = f"{request.parent}/sinks/{request.sink.name}"
        with self._lock:
            if name in self.sinks:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Sink {name} already exists")
            sink = LogSink(request.sink)
            sink.writer_identity = WRITER.format(n=len(self.sinks) + 1)
            self.sinks[name] = sink
        return sink

    def _update_sink(
        self, request: config.UpdateSinkRequest, context: grpc.ServicerContext
    ) -> LogSink:
        with self._lock:
            sink = self.sinks.get(request.sink_name)
            if sink is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Sink {request.sink_name} does not exist")
            for path in request.update_mask.paths:
                setattr(sink, path, getattr(request.sink, path))
        return sink

    def _config_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "google.logging.v2.ConfigServiceV2",
            {
                "GetSink": _unary(self._get_sink, config.GetSinkRequest, LogSink),
                "CreateSink": _unary(self._create_sink, config.CreateSinkRequest, LogSink),
                "UpdateSink": _unary(self._update_sink, config.UpdateSinkRequest, LogSink),
            },
        )


def _unary(method: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


def _at(value: Any) -> float:
    return value.timestamp()


def _parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
