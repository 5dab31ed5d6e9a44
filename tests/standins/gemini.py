"""A local HTTP server speaking Gemini's `generateContent` REST API, for the real
google-genai client pointed at it through `HttpOptions(base_url=...)`.

Replies come from a script (a queue of `Reply`s, taken one per request); when the
script is empty the default reply is a valid verdict that cites the first template id
and insertId found in the request, so a fleet or a replay can run against it unattended.
Every request body is kept, so tests can look for what must never leave the process.
Run it on its own with `python -m tests.standins.gemini PORT` (prints `ready`).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
_TEMPLATE_ID = re.compile(r'"template_id":\s*"([^"]+)"')
_INSERT_ID = re.compile(r'"insert_id":\s*"([^"]+)"')


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status, a JSON body, headers, and a delay before it."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def answer(text: str, *, prompt_tokens: int = 812, output_tokens: int = 143) -> Reply:
    """A 200 whose one candidate says `text`."""
    return Reply(body={
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": "stand-in",
    })


def error(status: int, message: str, code_name: str, retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": {"code": status, "message": message, "status": code_name}}
    return Reply(status=status, body=body, headers=headers)


def verdict_json(
    template_ids: list[str], insert_ids: list[str], *, verdict: str = "anomaly",
    confidence: float = 0.9, anomaly_type: str = "error_burst",
) -> str:
    return json.dumps({
        "verdict": verdict,
        "anomaly_type": anomaly_type,
        "severity": "critical",
        "confidence": confidence,
        "title": "Checkout cannot reach its database",
        "summary": "Connection errors to the orders database rose from none to most lines.",
        "probable_cause": "The database refuses connections after the 14:02 deploy.",
        "user_impact": "Checkouts fail for most users.",
        "recommended_actions": ["Roll back the 14:02 deploy", "Check the database pool"],
        "cited_template_ids": template_ids,
        "cited_insert_ids": insert_ids,
    })


@dataclass
class Seen:
    """One request as received."""

    model: str
    headers: dict[str, str]
    body: str
    at: float

    def prompt_text(self) -> str:
        data = json.loads(self.body)
        return "\n".join(
            part.get("text", "") for content in data.get("contents", [])
            for part in content.get("parts", [])
        )


class GeminiStandIn:
    """The server; `.base_url` is what `HttpOptions(base_url=...)` should hold."""

    def __init__(self, port: int = 0) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self.default_verdict = "anomaly"
        self.default_delay_s = 0.0  # before each unscripted answer
        # Unscripted answers count prompt tokens as Gemini roughly does (about four
        # characters a token) instead of the fixed 812, for cost estimates.
        self.count_tokens = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if self.script:
                return self.script.popleft()
        prompt = seen.prompt_text()
        templates = _TEMPLATE_ID.findall(prompt)[:1]
        inserts = _INSERT_ID.findall(prompt)[:1]
        text = verdict_json(templates, inserts, verdict=self.default_verdict)
        if self.count_tokens:
            system = json.loads(seen.body).get("systemInstruction", {})
            chars = len(prompt) + sum(len(p.get("text", "")) for p in system.get("parts", []))
            reply = answer(text, prompt_tokens=chars // 4, output_tokens=len(text) // 4)
        else:
            reply = answer(text)
        return Reply(reply.status, reply.body, reply.headers, self.default_delay_s)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                match = _PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    return self._send(error(404, f"no such method {self.path}", "NOT_FOUND"))
                seen = Seen(match["model"], dict(self.headers.items()), body, time.time())
                reply = standin._next(seen)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> GeminiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GeminiStandIn:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    server = GeminiStandIn(int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print("ready", server.base_url, flush=True)
    threading.Event().wait()
