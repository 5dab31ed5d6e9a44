"""A local gRPC server speaking `google.pubsub.v1`, for the real client via PUBSUB_EMULATOR_HOST.

Publisher: CreateTopic, GetTopic, Publish, DeleteTopic. Subscriber: CreateSubscription,
GetSubscription, StreamingPull, Pull, Acknowledge, ModifyAckDeadline. IAMPolicy (on
topics): GetIamPolicy, SetIamPolicy. Other methods answer UNIMPLEMENTED. Delivery
semantics live in `pubsub_store.PubSubStore`; `.book` counts calls and refuses on demand.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import empty_pb2
from google.pubsub_v1 import types

from tests.standins.calls import CallBook
from tests.standins.pubsub_store import AlreadyExists, NotFound, PubSubStore

_TICK_SECONDS = 0.05
_PULL_WAIT_SECONDS = 0.5
_ERROR_CODES = {NotFound: grpc.StatusCode.NOT_FOUND, AlreadyExists: grpc.StatusCode.ALREADY_EXISTS}
_EMPTY = empty_pb2.Empty()


class PubSubStandIn:
    """A Pub/Sub service on 127.0.0.1; `.host` is what PUBSUB_EMULATOR_HOST should hold.

    Each open StreamingPull holds one of `max_workers` server threads (plus one thread
    of its own reading heartbeats). A stream sends at most `chunk_size` messages per
    response and keeps no more outstanding than the client's flow control asks for.
    `max_ack_deadline` caps lease lengths (see PubSubStore).
    """

    def __init__(
        self, *, max_workers: int = 16, chunk_size: int = 50, max_ack_deadline: float | None = None
    ) -> None:
        self.store = PubSubStore(max_ack_deadline)
        self.book = CallBook()
        self.policies: dict[str, policy_pb2.Policy] = {}  # topic name -> its IAM policy
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=[self.book]
        )
        self._streams = _StreamingPull(self.store, chunk_size)
        self._server.add_generic_rpc_handlers(
            (
                _publisher_handler(self.store),
                _subscriber_handler(self.store, self._streams),
                _iam_handler(self.store, self.policies),
            )
        )
        self.host = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def start(self) -> PubSubStandIn:
        """Start serving; returns self."""
        self._server.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Cancel open streams and stop, waiting up to `grace` s for calls in flight."""
        self._server.stop(grace).wait()

    def __enter__(self) -> PubSubStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def published_count(self, topic: str) -> int:
        """How many messages were published to `topic`."""
        return self.store.published_count(topic)

    def acked_count(self, subscription: str) -> int:
        """How many messages of `subscription` were acknowledged."""
        return self.store.acked_count(subscription)

    def outstanding(self, subscription: str) -> int:
        """How many messages are delivered and neither acked nor expired."""
        return self.store.outstanding(subscription)

    def backlog(self, subscription: str) -> int:
        """How many messages wait for (re)delivery."""
        return self.store.backlog(subscription)

    def peak_outstanding(self, subscription: str) -> int:
        """The most messages of `subscription` ever leased at the same time."""
        return self.store.peak_outstanding(subscription)

    def peak_attempts(self, subscription: str) -> int:
        """The most times any one message of `subscription` was delivered."""
        return self.store.peak_attempts(subscription)

    def wait_until_drained(self, subscription: str, timeout: float) -> bool:
        """Wait until every message of `subscription` is acked; False on timeout."""
        return self.store.wait_until_drained(subscription, timeout)

    def open_streams(self) -> int:
        """How many StreamingPull calls are being served now."""
        return self._streams.open_count


class _StreamingPull:
    """The bidi StreamingPull call: heartbeats are read in a thread, messages sent here."""

    def __init__(self, store: PubSubStore, chunk_size: int) -> None:
        self._store = store
        self._chunk_size = chunk_size
        self._lock = threading.Lock()
        self.open_count = 0

    def __call__(
        self, requests: Iterator[types.StreamingPullRequest], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        first = next(requests)
        self._store.get_subscription(first.subscription)
        done = threading.Event()
        context.add_callback(done.set)
        reader = threading.Thread(target=self._drain, args=(requests, first.subscription, done))
        reader.daemon = True
        reader.start()
        with self._lock:
            self.open_count += 1
        try:
            yield from self._deliver(first, context, done)
        finally:
            with self._lock:
                self.open_count -= 1

    def _deliver(
        self,
        first: types.StreamingPullRequest,
        context: grpc.ServicerContext,
        done: threading.Event,
    ) -> Iterator[bytes]:
        """Encoded `StreamingPullResponse`s (see `_serialize`)."""
        limit = first.max_outstanding_messages or sys.maxsize
        stream = object()  # holds this stream's leases in the store
        while not done.is_set() and context.is_active():
            room = min(self._chunk_size, limit - self._store.held(first.subscription, stream))
            if room <= 0:
                done.wait(_TICK_SECONDS)
                continue
            delivery = self._store.take(
                first.subscription, room, _TICK_SECONDS, first.stream_ack_deadline_seconds, stream
            )
            if delivery.ack_ids:
                yield delivery.response

    def _drain(
        self,
        requests: Iterator[types.StreamingPullRequest],
        subscription: str,
        done: threading.Event,
    ) -> None:
        try:
            for request in requests:  # heartbeats; older clients also ack on the stream
                self._store.acknowledge(subscription, list(request.ack_ids))
                for ack_id, seconds in zip(
                    request.modify_deadline_ack_ids, request.modify_deadline_seconds, strict=False
                ):
                    self._store.modify_deadline(subscription, [ack_id], seconds)
        except grpc.RpcError:
            pass  # the client cancelled the stream
        finally:
            done.set()


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn store errors into gRPC status codes the client maps to its exceptions."""

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(request, context)
        except (NotFound, AlreadyExists) as error:
            context.abort(_ERROR_CODES[type(error)], f"{type(error).__name__}: {error}")

    return handle


def _mapped_stream(method: _StreamingPull) -> Callable[..., Any]:
    def handle(requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(requests, context)
        except (NotFound, AlreadyExists) as error:
            context.abort(_ERROR_CODES[type(error)], f"{type(error).__name__}: {error}")

    return handle


def _serialize(response: Any) -> bytes:
    """A response already encoded (a pull's), or a proto-plus or raw protobuf message."""
    if isinstance(response, bytes):
        return response
    return bytes(getattr(response, "_pb", response).SerializeToString())


def _unary(method: Callable[..., Any], request_type: Any, response_type: Any) -> Any:
    return grpc.unary_unary_rpc_method_handler(
        _mapped(method),
        request_deserializer=request_type.deserialize,
        response_serializer=_serialize,
    )


def _empty(method: Callable[..., Any], request_type: Any) -> Any:
    """A call answering Empty; its request arrives as the raw protobuf message, not the
    proto-plus wrapper (whose repeated fields convert item by item: a thousand ack ids
    a request)."""
    return grpc.unary_unary_rpc_method_handler(
        _mapped(method),
        request_deserializer=request_type.pb().FromString,
        response_serializer=empty_pb2.Empty.SerializeToString,
    )


def _publisher_handler(store: PubSubStore) -> grpc.GenericRpcHandler:
    def publish(request: types.PublishRequest, _: object) -> types.PublishResponse:
        ids = store.publish(request.topic, list(request.messages))
        return types.PublishResponse(message_ids=ids)

    def delete_topic(request: Any, _: object) -> empty_pb2.Empty:  # DeleteTopicRequest
        store.delete_topic(request.topic)
        return _EMPTY

    return grpc.method_handlers_generic_handler(
        "google.pubsub.v1.Publisher",
        {
            "CreateTopic": _unary(lambda r, _: store.create_topic(r), types.Topic, types.Topic),
            "GetTopic": _unary(
                lambda r, _: store.get_topic(r.topic), types.GetTopicRequest, types.Topic
            ),
            "Publish": _unary(publish, types.PublishRequest, types.PublishResponse),
            "DeleteTopic": _empty(delete_topic, types.DeleteTopicRequest),
        },
    )


def _subscriber_handler(store: PubSubStore, streams: _StreamingPull) -> grpc.GenericRpcHandler:
    def pull(request: types.PullRequest, _: object) -> bytes:
        wait = 0.0 if request.return_immediately else _PULL_WAIT_SECONDS
        return store.take(request.subscription, request.max_messages, wait).response

    def acknowledge(request: Any, _: object) -> empty_pb2.Empty:  # AcknowledgeRequest
        store.acknowledge(request.subscription, list(request.ack_ids))
        return _EMPTY

    def modify(request: Any, _: object) -> empty_pb2.Empty:  # ModifyAckDeadlineRequest
        ack_ids = list(request.ack_ids)
        store.modify_deadline(request.subscription, ack_ids, request.ack_deadline_seconds)
        return _EMPTY

    def get(request: types.GetSubscriptionRequest, _: object) -> types.Subscription:
        return store.get_subscription(request.subscription)

    return grpc.method_handlers_generic_handler(
        "google.pubsub.v1.Subscriber",
        {
            "CreateSubscription": _unary(
                lambda r, _: store.create_subscription(r), types.Subscription, types.Subscription
            ),
            "GetSubscription": _unary(get, types.GetSubscriptionRequest, types.Subscription),
            "Pull": _unary(pull, types.PullRequest, types.PullResponse),
            "Acknowledge": _empty(acknowledge, types.AcknowledgeRequest),
            "ModifyAckDeadline": _empty(modify, types.ModifyAckDeadlineRequest),
            "StreamingPull": grpc.stream_stream_rpc_method_handler(
                _mapped_stream(streams),
                request_deserializer=types.StreamingPullRequest.deserialize,
                response_serializer=_serialize,
            ),
        },
    )


def _iam_handler(store: PubSubStore, policies: dict[str, policy_pb2.Policy]) -> Any:
    lock = threading.Lock()

    def get(request: iam_policy_pb2.GetIamPolicyRequest, _: object) -> policy_pb2.Policy:
        store.get_topic(request.resource)
        with lock:
            return policies.get(request.resource, policy_pb2.Policy(etag=b"0"))

    def set_(request: iam_policy_pb2.SetIamPolicyRequest, _: object) -> policy_pb2.Policy:
        store.get_topic(request.resource)
        policy = policy_pb2.Policy()
        policy.CopyFrom(request.policy)
        with lock:
            policy.etag = str(int(policies.get(request.resource, policy).etag or b"0") + 1).encode()
            policies[request.resource] = policy
        return policy

    def unary(method: Callable[..., Any], request_type: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            _mapped(method),
            request_deserializer=request_type.FromString,
            response_serializer=policy_pb2.Policy.SerializeToString,
        )

    return grpc.method_handlers_generic_handler(
        "google.iam.v1.IAMPolicy",
        {
            "GetIamPolicy": unary(get, iam_policy_pb2.GetIamPolicyRequest),
            "SetIamPolicy": unary(set_, iam_policy_pb2.SetIamPolicyRequest),
        },
    )
