"""A stand-in for Slack's Web API: chat.postMessage and chat.update over real HTTP, with
Slack's reply shapes, a channel's messages and threads kept as Slack would keep them."""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

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
    edits: int = 0


class SlackApiStandIn:
    """Answers queued replies first (one per call), then as Slack does on success."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.replies: deque[ApiReply] = deque()
        self.messages: dict[str, SlackMessage] = {}
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
                                             payload.get("thread_ts"))
            return ApiReply(body={"ok": True, "channel": CHANNEL_ID, "ts": ts,
                                  "message": {"text": payload.get("text", ""), "ts": ts}})
        if method == "chat.update":
            message = self.messages.get(payload.get("ts", ""))
            if message is None or payload.get("channel") != CHANNEL_ID:
                return ApiReply(body={"ok": False, "error": "message_not_found"})
            message.text, message.blocks = payload.get("text", ""), payload.get("blocks", [])
            message.edits += 1
            return ApiReply(body={"ok": True, "channel": CHANNEL_ID, "ts": message.ts})
        return ApiReply(body={"ok": False, "error": "unknown_method"})


def _handler_for(stand_in: SlackApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = json.loads(raw or b"{}")
            method = self.path.rsplit("/", 1)[-1]
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
    thread = threading.Thread(target=stand_in.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join()
