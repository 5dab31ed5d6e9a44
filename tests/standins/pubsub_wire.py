"""Wire bytes of the Pub/Sub messages the stand-in keeps and sends, written directly.

The store keeps each message as its `PubsubMessage`'s wire bytes, stamped once at publish,
and a pull's response is those bytes with each lease's ack id and attempt around them.
Protobuf objects per message (a `ReceivedMessage` copies its `PubsubMessage`, then the
response is serialized again) were most of the stand-in's CPU under load. The field
numbers are those of google/pubsub/v1/pubsub.proto.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.pubsub_v1 import types

# Each field starts with a tag: its number << 3 | its wire type (0 varint, 2 length-delimited).
# PubsubMessage: bytes data = 1, map attributes = 2, string message_id = 3, publish_time = 4.
_DATA, _MESSAGE_ID = b"\x0a", b"\x1a"
# ReceivedMessage: string ack_id = 1, PubsubMessage message = 2, int32 delivery_attempt = 3.
_ACK_ID, _MESSAGE, _DELIVERY_ATTEMPT = b"\x0a", b"\x12", b"\x18"
# PullResponse and StreamingPullResponse alike: repeated ReceivedMessage received_messages = 1.
_RECEIVED_MESSAGES = b"\x0a"
PubsubMessagePb: Any = types.PubsubMessage.pb()


def _encoded_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Every varint of one or two bytes (below 2**14: nearly every length), looked up rather than
# computed: a call less per field, which per message counts.
_SHORT_VARINTS = [_encoded_varint(value) for value in range(1 << 14)]


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint: 7 bits a byte, low bits first."""
    return _SHORT_VARINTS[value] if value < 0x4000 else _encoded_varint(value)


def _field(tag: bytes, payload: bytes) -> bytes:
    size = len(payload)
    length = _SHORT_VARINTS[size] if size < 0x4000 else _encoded_varint(size)
    return b"".join((tag, length, payload))


def messages(datas: Iterable[bytes], attributes: Mapping[str, str]) -> list[bytes]:
    """A `PubsubMessage` of each of `datas`, all with the same `attributes`."""
    shared = PubsubMessagePb(attributes=attributes).SerializeToString()
    return [_field(_DATA, data) + shared for data in datas]


def stamped(message: bytes, message_id: str, publish_time: bytes) -> bytes:
    """`message` (a `PubsubMessage` without id or publish time) with both set, as the
    `message` field of a `ReceivedMessage` (what `received` takes); `publish_time` is the
    encoded field (a `PubsubMessage` holding only it)."""
    whole = b"".join((message, _field(_MESSAGE_ID, message_id.encode()), publish_time))
    return _field(_MESSAGE, whole)


def received(ack_id: str, message: bytes, attempt: int) -> bytes:
    """One `ReceivedMessage` of `message` (from `stamped`) as an element of a pull
    response's `received_messages`: the concatenation of such elements is a whole
    `PullResponse` or `StreamingPullResponse`."""
    body = b"".join((_field(_ACK_ID, ack_id.encode()), message, _DELIVERY_ATTEMPT,
                     varint(attempt)))
    return _field(_RECEIVED_MESSAGES, body)
