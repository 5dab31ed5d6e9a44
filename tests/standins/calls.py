"""What every stand-in offers tests: the calls it served, and calls it refuses on demand."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc


class CallBook(grpc.ServerInterceptor):
    """Counts each method called (by its short name, e.g. "CreateTopic"), and answers
    PERMISSION_DENIED to the methods in `denied` (or `fail` with any code)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.failures: dict[str, tuple[grpc.StatusCode, str]] = {}

    def deny(self, method: str) -> None:
        self.fail(method, grpc.StatusCode.PERMISSION_DENIED, f"Permission denied on {method}")

    def fail(self, method: str, code: grpc.StatusCode, message: str) -> None:
        with self._lock:
            self.failures[method] = (code, message)

    def allow(self, method: str) -> None:
        with self._lock:
            self.failures.pop(method, None)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        name = details.method.rsplit("/", 1)[-1]  # type: ignore[attr-defined]
        with self._lock:
            self.calls[name] += 1
            failure = self.failures.get(name)
        handler = continuation(details)
        if failure is None or handler is None:
            return handler
        return _refusing(handler, *failure)


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> Any:
    def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    if handler.request_streaming or handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            refuse, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )
