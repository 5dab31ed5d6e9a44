"""Log-sink messages from Pub/Sub: pulled messages, and the envelope of push delivery."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from functools import partial

from pipeline.entry import LogEntry
from pipeline.parsing.logentry import parse_entry_or_reject, parser_bug
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    InvalidInput,
    Rejection,
    RejectReason,
    quote,
)
from pipeline.parsing.timestamps import TimestampError, rfc3339_ns
from pipeline.parsing.wire import WirePushMessage, decode_envelope

TIMESTAMP_ATTRIBUTE = "logging.googleapis.com/timestamp"
_ENVELOPE_ALLOWANCE = 64 * 1024  # room for attributes, ids and JSON around the data


def parse_pubsub_message(
    data: bytes,
    attributes: Mapping[str, str],
    message_id: str,
    publish_ns: int | None,
    *,
    max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
) -> LogEntry | Rejection:
    """Parses the one LogEntry JSON a log sink puts in a message's data; never raises.

    An entry without a timestamp takes the `logging.googleapis.com/timestamp` attribute
    when there is a valid one, else the publish time. Rejections name `message_id`.
    """
    try:
        fallback: int | Callable[[], int | None] | None = publish_ns
        stamp = attributes.get(TIMESTAMP_ATTRIBUTE) if attributes else None
        if isinstance(stamp, str):
            # Parsed only for an entry without times of its own: most have them.
            fallback = partial(_attribute_ns, stamp, publish_ns)
        return parse_entry_or_reject(data, message_id, max_bytes, fallback, publish_ns)
    except Exception as error:  # the last guard of "parsing never raises"
        return parser_bug(error, data, message_id)


def _attribute_ns(stamp: str, publish_ns: int | None) -> int | None:
    # The attribute is optional: when it is not a time, the publish time stands in.
    try:
        return rfc3339_ns(stamp)
    except TimestampError:
        return publish_ns


def parse_push_body(
    body: bytes, *, max_bytes: int = DEFAULT_MAX_ENTRY_BYTES
) -> tuple[str, LogEntry | Rejection]:
    """Parses a Pub/Sub push request body; never raises.

    Returns the message id (a hash of the body when the envelope has none) and the entry
    or the Rejection: BAD_ENVELOPE for a malformed envelope, BAD_BASE64 for undecodable
    data, and whatever parse_pubsub_message finds in the data.
    """
    try:
        return _push(body, max_bytes)
    except Exception as error:  # the last guard of "parsing never raises"
        body_id = _body_id(body)
        return body_id, parser_bug(error, body, body_id)


def _push(body: bytes, max_bytes: int) -> tuple[str, LogEntry | Rejection]:
    try:
        message = _envelope_message(body, max_bytes)
    except InvalidInput as error:
        body_id = _body_id(body)
        return body_id, Rejection.of(error.reason, error.detail, body, body_id)
    message_id = message.messageId or message.message_id or _body_id(body)
    try:
        data = _message_data(message)
        publish_ns = _publish_ns(message)
    except InvalidInput as error:
        return message_id, Rejection.of(error.reason, error.detail, body, message_id)
    attributes = message.attributes or {}
    entry = parse_pubsub_message(data, attributes, message_id, publish_ns, max_bytes=max_bytes)
    return message_id, entry


def _envelope_message(body: bytes, max_bytes: int) -> WirePushMessage:
    limit = max_bytes * 4 // 3 + _ENVELOPE_ALLOWANCE
    if len(body) > limit:
        raise InvalidInput(
            RejectReason.OVERSIZED,
            f"The push body is {len(body)} bytes, over the limit of {limit} bytes.",
        )
    if not body or body.isspace():
        raise InvalidInput(RejectReason.BAD_ENVELOPE, "The push body is empty.")
    try:
        envelope = decode_envelope(body)
    except InvalidInput as error:
        raise InvalidInput(RejectReason.BAD_ENVELOPE, error.detail) from None
    if envelope.message is None:
        raise InvalidInput(RejectReason.BAD_ENVELOPE, "The push body has no message.")
    return envelope.message


def _message_data(message: WirePushMessage) -> bytes:
    if not message.data:
        raise InvalidInput(RejectReason.EMPTY, "The Pub/Sub message carries no data.")
    try:
        return base64.b64decode(message.data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(
            RejectReason.BAD_BASE64, f"Field message.data is not valid base64 ({error})."
        ) from None


def _publish_ns(message: WirePushMessage) -> int | None:
    stamp = message.publishTime or message.publish_time
    if stamp is None:
        return None
    try:
        return rfc3339_ns(stamp)
    except TimestampError as error:
        raise InvalidInput(
            RejectReason.BAD_ENVELOPE,
            f"Field message.publishTime holds {quote(stamp)}, which {error}.",
        ) from None


def _body_id(body: object) -> str:
    data = body if isinstance(body, bytes) else repr(body).encode()
    return "body-" + hashlib.blake2b(data, digest_size=16).hexdigest()
