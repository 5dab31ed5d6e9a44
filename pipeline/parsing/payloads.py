"""The message text and structured payload of an entry: textPayload, jsonPayload, protoPayload."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.parsing.rejection import InvalidInput, RejectReason, quote
from pipeline.parsing.wire import WireFields, WireHttpRequest, decode_any

MESSAGE_KEYS = ("message", "msg", "log")  # where structured loggers put the human text
_ENCODE = msgspec.json.Encoder().encode
_GRPC_CODES = (  # google.rpc.Code, by number
    *("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND"),
    *("ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION"),
    *("ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"),
    "UNAUTHENTICATED",
)
_AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
_REQUEST_LOG_TYPE = "type.googleapis.com/google.appengine.logging.v1.RequestLog"

Payload = dict[str, Any] | None


def message_and_payload(wire: WireFields, data: bytes) -> tuple[str, Payload]:
    """The entry's message text and its structured payload (None for textPayload).

    An entry with httpRequest and no payload (a request log) gets a message made of it.

    Raises InvalidInput(MISSING_PAYLOAD / UNKNOWN_PAYLOAD / WRONG_TYPE).
    """
    text, json_payload, proto = wire.text_payload, wire.json_payload, wire.proto_payload
    kinds = (text is not None) + (json_payload is not None) + (proto is not None)
    if kinds == 0 and wire.http_request and (message := request_message(wire.http_request)):
        return message, None
    if kinds != 1:
        raise _no_single_payload(wire, data)
    if text is not None:
        return text, None
    if json_payload is not None:
        return json_message(json_payload), json_payload
    if proto is not None:
        return proto_message(proto), proto
    raise _no_single_payload(wire, data)


def request_message(request: WireHttpRequest) -> str:
    """A request log without payload (Cloud Run, load balancers): `GET <url> 503 0.250s`."""
    parts = (request.request_method, request.request_url, request.status, request.latency)
    return " ".join(str(part) for part in parts if part is not None and part != "")


def json_message(payload: dict[str, Any]) -> str:
    """`message`, `msg` or `log` when one of them is a string, else the payload as compact JSON."""
    for key in MESSAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, str):
            return value
    return _ENCODE(payload).decode()


def proto_message(payload: dict[str, Any]) -> str:
    """A one-line summary of a protoPayload, by its `@type`."""
    kind = payload.get("@type")
    if not isinstance(kind, str) or not kind:
        found = "no '@type'" if kind is None else f"'@type' {quote(kind)}, not a type name"
        raise InvalidInput(
            RejectReason.UNKNOWN_PAYLOAD, f"Field protoPayload has {found}, so its kind is unknown."
        )
    if kind == _AUDIT_LOG_TYPE:
        return audit_log_message(payload)
    short_kind = kind.rpartition(".")[2]
    if kind == _REQUEST_LOG_TYPE:
        parts = (_text(payload, "method"), _text(payload, "resource"), _number(payload, "status"))
        return " ".join([short_kind, *(str(p) for p in parts if p is not None and p != "")])
    rest = {k: v for k, v in payload.items() if k != "@type"}
    return f"{short_kind} {_ENCODE(rest).decode()}"


def audit_log_message(payload: dict[str, Any]) -> str:
    """`AuditLog <service> <method> by <principal> on <resource>: <status>`."""
    auth = _mapping(payload, "authenticationInfo")
    status = _mapping(payload, "status")
    words = ["AuditLog", _text(payload, "serviceName"), _text(payload, "methodName")]
    if principal := _text(auth, "principalEmail", "protoPayload.authenticationInfo"):
        words += ["by", principal]
    if resource := _text(payload, "resourceName"):
        words += ["on", resource]
    return " ".join(w for w in words if w) + ": " + _status_text(status)


def _status_text(status: dict[str, Any]) -> str:
    code = _number(status, "code", "protoPayload.status") or 0
    name = _GRPC_CODES[code] if 0 <= code < len(_GRPC_CODES) else f"code {code}"
    message = _text(status, "message", "protoPayload.status")
    return f"{name} ({message})" if message and code else name


def _mapping(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong(f"protoPayload.{key}", value, "an object")
    return value


def _text(payload: dict[str, Any], key: str, parent: str = "protoPayload") -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong(f"{parent}.{key}", value, "a string")
    return value


def _number(payload: dict[str, Any], key: str, parent: str = "protoPayload") -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(f"{parent}.{key}", value, "an integer")
    return value


def _wrong(field: str, value: object, expected: str) -> InvalidInput:
    return InvalidInput(
        RejectReason.WRONG_TYPE, f"Field {field} holds {quote(value)} where {expected} belongs."
    )


def _no_single_payload(wire: WireFields, data: bytes) -> InvalidInput:
    kinds = (
        ("text", wire.text_payload),
        ("json", wire.json_payload),
        ("proto", wire.proto_payload),
    )
    present = [name for name, value in kinds if value is not None]
    if present:
        names = " and ".join(f"{n}Payload" for n in present)
        return InvalidInput(
            RejectReason.UNKNOWN_PAYLOAD,
            f"The entry has {names}; exactly one payload is allowed, so its kind is unclear.",
        )
    document = decode_any(data)
    others = [k for k in document if k.endswith("Payload")] if isinstance(document, dict) else []
    if others:
        return InvalidInput(
            RejectReason.UNKNOWN_PAYLOAD,
            f"The entry's payload {others[0]} is of a kind we cannot read.",
        )
    return InvalidInput(
        RejectReason.MISSING_PAYLOAD,
        "The entry has none of textPayload, jsonPayload or protoPayload.",
    )
