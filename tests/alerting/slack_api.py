"""A stand-in for Slack's Web API: chat.postMessage and chat.update over real HTTP, with
Slack's reply shapes, a channel's messages and threads kept as Slack would keep them."""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.alerting.serving import serving

BOT_TOKEN = "xoxb-1111-2222-NeverLeakThisBotToken"
CHANNEL_ID = "C0LOGWARDEN"


@dataclass(frozen=True)
class ApiReply:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiCall:
    method: str
    authorization: str
    payload: dict[str, Any]


@dataclass
class SlackMessage:
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edits: int = 0

    def as_slack_shows_it(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.metadata:
            shown["metadata"] = self.metadata
        return shown


class SlackApiStandIn:
    """Answers queued replies first (one per call), then as Slack does on success."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.replies: deque[ApiReply] = deque()
        self.messages: dict[str, SlackMessage] = {}
        self.history_error: str | None = None  # e.g. "missing_scope": reading history fails
        self._ts = (f"1700000000.{n:06d}" for n in itertools.count(100))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/api/"

    def top_level(self) -> list[SlackMessage]:
        return [m for m in self.messages.values() if m.thread_ts is None]

    def replies_to(self, ts: str) -> list[SlackMessage]:
        return [m for m in self.messages.values() if m.thread_ts == ts]

    def answer(self, method: str, payload: dict[str, Any]) -> ApiReply:
        if self.replies:
            return self.replies.popleft()
        if method == "chat.postMessage":
            ts = next(self._ts)
            self.messages[ts] = SlackMessage(ts, payload.get("text", ""), payload.get("blocks", []),
                                             payload.get("thread_ts"), payload.get("metadata"))
            return ApiReply(body={"ok": True, "channel": CHANNEL_ID, "ts": ts,
                                  "message": {"text": payload.get("text", ""), "ts": ts}})
        if method == "chat.update":
            message = self.messages.get(payload.get("ts", ""))
            if message is None or payload.get("channel") != CHANNEL_ID:
                return ApiReply(body={"ok": False, "error": "message_not_found"})
            message.text, message.blocks = payload.get("text", ""), payload.get("blocks", [])
            message.edits += 1
            return ApiReply(body={"ok": True, "channel": CHANNEL_ID, "ts": message.ts})
        if method in ("conversations.history", "conversations.replies"):
            return self._read(method, payload)
        return ApiReply(body={"ok": False, "error": "unknown_method"})

    def _read(self, method: str, params: dict[str, Any]) -> ApiReply:
        if self.history_error:
            return ApiReply(body={"ok": False, "error": self.history_error})
        if params.get("channel") != CHANNEL_ID:
            return ApiReply(body={"ok": False, "error": "channel_not_found"})
        if method == "conversations.history":
            shown = [m for m in self.messages.values() if m.thread_ts is None]
        else:
            parent = params.get("ts")
            shown = [m for m in self.messages.values() if parent in (m.ts, m.thread_ts)]
        limit = int(params.get("limit", 100))
        # Metadata only when asked for, as Slack does.
        with_metadata = params.get("include_all_metadata") in ("1", "true", "True")
        messages = [m.as_slack_shows_it() for m in sorted(shown, key=lambda m: m.ts,
                                                           reverse=True)[:limit]]
        if not with_metadata:
            messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
        return ApiReply(body={"ok": True, "messages": messages, "has_more": False})


def _handler_for(stand_in: SlackApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            self._answer(path.rsplit("/", 1)[-1], dict(parse_qsl(query)))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            # chat.* calls send JSON; reads send their parameters as a form or a query.
            if self.headers.get("Content-Type", "").startswith("application/json"):
                payload = json.loads(raw or b"{}")
            else:
                payload = dict(parse_qsl(query)) | dict(parse_qsl(raw.decode()))
            self._answer(path.rsplit("/", 1)[-1], payload)

        def _answer(self, method: str, payload: dict[str, Any]) -> None:
            stand_in.calls.append(ApiCall(method, self.headers.get("Authorization", ""), payload))
            if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                reply = ApiReply(body={"ok": False, "error": "invalid_auth"})
            else:
                reply = stand_in.answer(method, payload)
            body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def slack_api() -> Iterator[SlackApiStandIn]:
    stand_in = SlackApiStandIn()
    with serving(stand_in.server):
        yield stand_in
