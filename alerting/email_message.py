"""An alert as an email: subject, threading headers, and text and HTML alternatives.

One thread per incident: the first message's Message-ID comes from the incident (or the
outbox's key for it), and every later message names it in In-Reply-To and References.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from alerting.alert import AlertMessage
from alerting.render import actions, facts, headline, plain_text, split_command

_SEVERITY_COLOUR = {"critical": "#b00020", "warning": "#b26a00", "info": "#2f5d8a"}


def build_email(
    message: AlertMessage, sender: str, recipients: Sequence[str], *, key: str | None = None
) -> EmailMessage:
    """The alert as a multipart/alternative email: plain text first, HTML preferred.

    The Message-ID is derived from `key` (the same for every attempt at one message, so
    mail systems can drop a repeat), or without one from the incident and the message's
    place in it. A later message of an incident replies to the thread's first email
    (`thread_ref`): `In-Reply-To` and `References` name it, and its subject is the first
    one's after `Re: `, since mail clients such as Gmail start a new conversation when the
    subject changes; the body's first line says what the incident is now."""
    email = EmailMessage()
    domain = sender.rpartition("@")[2] or "logwarden"
    parent, first_subject = _thread(message, key, domain)
    # Header values must be one line; stream names come from untrusted log metadata.
    subject = f"Re: {first_subject}" if first_subject else headline(message)
    email["Subject"] = " ".join(subject.split())
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(key or _own_key(message), domain)
    if parent:
        email["In-Reply-To"] = parent
        email["References"] = parent
    email["X-Logwarden-Alert-Id"] = " ".join(message.alert_id.split())
    email.set_content(plain_text(message))
    email.add_alternative(html_body(message), subtype="html")
    return email


def thread_ref_of(email: EmailMessage) -> str:
    """What a thread's first email leaves for the later ones: its Message-ID, then its
    subject."""
    return f"{email['Message-ID']} {email['Subject']}"


def _own_key(message: AlertMessage) -> str:
    if not message.follow_up and message.thread_ref is None:
        return message.alert_id
    return f"{message.alert_id}.{message.kind}.{message.revision}"


def _thread(message: AlertMessage, key: str | None, domain: str
            ) -> tuple[str | None, str | None]:
    """The thread's first email (its Message-ID, and its subject when known): the one the
    outbox recorded, or for a follow-up without one, the id the first had from its key."""
    if message.thread_ref:
        parent, _, subject = " ".join(message.thread_ref.split()).partition(" ")
        return parent, subject.removeprefix("Re: ") or None
    if message.follow_up and key:
        return message_id(key.removesuffix(".review"), domain), None
    return None, None


def message_id(key: str | None, domain: str) -> str:
    """`<key@domain>` with the key reduced to characters a Message-ID allows; random
    without a key."""
    if not key:
        return make_msgid(domain=domain)
    local = re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", key).strip(".") or "alert"
    host = re.sub(r"[^A-Za-z0-9.-]", "-", domain) or "logwarden"
    return f"<{local}.logwarden@{host}>"


def html_body(message: AlertMessage) -> str:
    """A small self-contained HTML rendering; every value escaped, links http(s) only."""
    esc = html.escape
    colour = _SEVERITY_COLOUR.get(str(message.severity), "#333333")
    rows = "".join(
        f'<tr><th align="left" style="padding-right:1em">{esc(label)}</th>'
        f"<td>{esc(value)}</td></tr>"
        for label, value in facts(message)
    )
    parts = [
        '<html><body style="font-family:sans-serif">',
        f'<h2 style="color:{colour};border-left:6px solid {colour};padding-left:8px">'
        f"{esc(headline(message))}</h2>",
        f"<p>{esc(message.summary)}</p><table>{rows}</table>",
        _html_list("Why", [esc(line) for line in message.details]),
    ]
    if message.samples:
        lines = "\n".join(esc(line) for line in message.samples[:3])
        parts.append(f'<h3>Sample lines</h3><pre style="background:#f4f4f4">{lines}</pre>')
    links = [f'<a href="{esc(url, quote=True)}">{esc(label)}</a>' for label, url in message.links
             if urlsplit(url).scheme in ("http", "https")]
    parts.append(_html_list("Links", links))
    parts.append(_html_list("What to do", [_html_step(step) for step in actions(message)]))
    parts.append(f'<p style="color:#777">Incident {esc(message.alert_id)}</p></body></html>')
    return "".join(parts)


def _html_step(step: str) -> str:
    words, command = split_command(step)
    return html.escape(words) + (f"<code>{html.escape(command)}</code>" if command else "")


def _html_list(title: str, items: Sequence[str]) -> str:
    """A titled list of already-escaped items; nothing when there are none."""
    if not items:
        return ""
    return f"<h3>{title}</h3><ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
