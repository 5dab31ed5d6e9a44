"""Wire-level stand-ins for the channels: an HTTP receiver in place of Slack's webhook,
a real aiosmtpd SMTP server, and ports that refuse or never answer."""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.alerting.serving import serving
from tests.alerting.slack_api import slack_api  # noqa: F401  (a fixture for the tests here)
from tests.alerting.tls import TlsFiles, make_tls_files

SMTP_USER = "alerts@example.test"
SMTP_PASSWORD = "pw-Zq81-never-shown"
WEBHOOK_TOKEN = "XoXb9TokenThatMustNotLeak42"


def free_port() -> int:
    """A port nothing listens on (aiosmtpd cannot pick one itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class WebhookReply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    echo_path: bool = False  # a careless receiver that quotes the URL back
    delay_s: float = 0.0  # a slow receiver: answers only after this long


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    content_type: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    authorization: str | None = None


class WebhookStandIn:
    """Records every POST; answers with queued replies, then 200 `ok`."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self.replies: deque[WebhookReply] = deque()
        self.default = WebhookReply()  # the reply once the queued ones are used up
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))

    def url(self, token: str = WEBHOOK_TOKEN) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/services/T0001/B0002/{token}"


def _handler_for(stand_in: WebhookStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            content_type = self.headers.get("Content-Type", "")
            key = self.headers.get("Idempotency-Key")
            stand_in.requests.append(
                WebhookRequest(self.path, content_type, json.loads(raw), key,
                               self.headers.get("Authorization"))
            )
            reply = stand_in.replies.popleft() if stand_in.replies else stand_in.default
            time.sleep(reply.delay_s)
            body = f"no webhook at {self.path}" if reply.echo_path else reply.body
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookStandIn]:
    stand_in = WebhookStandIn()
    with serving(stand_in.server):
        yield stand_in


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections (the kernel does) but never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


class SmtpRecorder:
    """aiosmtpd handler: keeps accepted mail; refuses what a test tells it to."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refused_recipients: dict[str, str] = {}
        self.data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refused_recipients:
            return self.refused_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        content = envelope.original_content or b""
        self.received.append((envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


def echoing_authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    """Accepts SMTP_USER/SMTP_PASSWORD; a refusal quotes the password back, carelessly."""
    assert isinstance(data, LoginPassword)
    if data.login.decode() == SMTP_USER and data.password.decode() == SMTP_PASSWORD:
        return AuthResult(success=True)
    message = f"535 5.7.8 bad credentials {data.password.decode()}"
    return AuthResult(success=False, handled=False, message=message)


@dataclass
class SmtpStandIn:
    recorder: SmtpRecorder
    port: int


def _run_smtp(**options: Any) -> Iterator[SmtpStandIn]:
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, authenticator=echoing_authenticator, **options
    )
    controller.start()
    yield SmtpStandIn(recorder, port)
    controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    """Plain SMTP; AUTH allowed without TLS so a test can check the password path."""
    yield from _run_smtp(auth_require_tls=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_starttls(tls_files: TlsFiles) -> Iterator[SmtpStandIn]:
    yield from _run_smtp(tls_context=tls_files.server_context(), require_starttls=True)


@pytest.fixture
def smtp_implicit_tls(tls_files: TlsFiles) -> Iterator[SmtpStandIn]:
    yield from _run_smtp(ssl_context=tls_files.server_context())
