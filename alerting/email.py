"""Email over SMTP: one multipart (plain text + HTML) message per alert, one thread per
incident.

SMTP replies say themselves whether to try again: 4xx is transient, 5xx is final.
Connection failures are transient. The password never appears in a reason, not even
when a server echoes the credentials it was sent.
"""

from __future__ import annotations

import base64
import smtplib
import ssl as tls
from collections.abc import Mapping, Sequence
from email.message import EmailMessage

from alerting.alert import AlertMessage
from alerting.email_message import build_email, thread_ref_of
from alerting.notifier import DeliveryResult, delivered, give_up, redact, retry_later


class EmailNotifier:
    """Sends alerts through one SMTP server; one connection and one attempt per `send`.

    `ssl` is implicit TLS (port 465), `starttls` upgrades a plain connection (port 587).
    `tls_context` replaces the system's trust store, for relays with a private CA.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout_s: float = 10,
        *,
        tls_context: tls.SSLContext | None = None,
        name: str = "email",
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose implicit TLS (ssl) or STARTTLS, not both")
        if not recipients:
            raise ValueError("an email channel needs at least one recipient")
        if username is not None and password is None:
            raise ValueError("an SMTP username needs a password")
        self.name = name
        self.host, self.port, self.sender = host, port, sender
        self.recipients = tuple(recipients)
        self._username, self._password = username, password
        self._starttls, self._ssl, self._timeout_s = starttls, ssl, timeout_s
        self._tls_context = tls_context or tls.create_default_context()
        self._secrets = _credential_forms(username or "", password or "")

    def send(self, message: AlertMessage, key: str | None = None) -> DeliveryResult:
        email = build_email(message, self.sender, self.recipients, key=key)
        try:
            refused = self._deliver(email)
        except smtplib.SMTPRecipientsRefused as error:
            return self._all_refused(error.recipients)
        except smtplib.SMTPResponseException as error:
            return self._reply(error.smtp_code, error.smtp_error, "SMTP server replied")
        except (smtplib.SMTPNotSupportedError, tls.SSLCertVerificationError) as error:
            return give_up(self._redact(f"SMTP session impossible: {error}"))
        except (smtplib.SMTPException, OSError) as error:
            return retry_later(self._redact(f"SMTP server unreachable: {error}"))
        # The first message of an incident starts its thread: later ones reply to it.
        thread_ref = thread_ref_of(email) if message.thread_ref is None else None
        note = self._redact(f"refused by the server: {_describe(refused)}") if refused else None
        return delivered(note, thread_ref=thread_ref)

    def _deliver(self, email: EmailMessage) -> Mapping[str, tuple[int, bytes]]:
        with self._connect() as smtp:
            if self._starttls:
                smtp.starttls(context=self._tls_context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            return smtp.send_message(email, self.sender, list(self.recipients))

    def _connect(self) -> smtplib.SMTP:
        if self._ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self._timeout_s, context=self._tls_context
            )
        return smtplib.SMTP(self.host, self.port, timeout=self._timeout_s)

    def _all_refused(self, refused: Mapping[str, tuple[int, bytes]]) -> DeliveryResult:
        transient = any(400 <= code < 500 for code, _ in refused.values())
        reason = self._redact(f"every recipient refused: {_describe(refused)}")
        return retry_later(reason) if transient else give_up(reason)

    def _reply(self, code: int, text: bytes | str, context: str) -> DeliveryResult:
        reason = self._redact(f"{context} {code} {_text(text)}")
        return give_up(reason) if 500 <= code < 600 else retry_later(reason)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _credential_forms(username: str, password: str) -> tuple[str, ...]:
    """The password as it may travel: plain, and base64 as AUTH LOGIN and PLAIN send it."""
    if not password:
        return ()
    plain = f"\0{username}\0{password}"
    return (
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(plain.encode()).decode(),
    )


def _describe(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_text(text)})" for addr, (code, text) in refused.items())


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
