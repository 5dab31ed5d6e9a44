"""An incident as Slack Block Kit: what happened, where, why, three real lines, where to
look and how to act.

Log text is untrusted, so every mrkdwn string is escaped; otherwise a log line holding
`<!channel>` would notify a whole channel. Links come from config but are still checked
to be http(s) and written so that they cannot close Slack's `<url|label>` early.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from alerting.alert import AlertMessage, MessageKind
from alerting.render import (
    actions,
    facts,
    headline,
    incident_types,
    service_name,
    severity_label,
    shorten,
    split_command,
)

# Block Kit limits, in characters (and elements).
HEADER_LIMIT = 150
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_LIMIT = 10
CONTEXT_ELEMENT_LIMIT = 10
SAMPLE_LIMIT = 3
SAMPLE_LINE_LIMIT = 600

# A coloured mark per severity, and for the states that end the alarm.
SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}
_STATE_EMOJI: dict[str, str] = {
    MessageKind.RESOLVED: ":white_check_mark:",
    MessageKind.ACKNOWLEDGED: ":eyes:",
    MessageKind.REVIEW: ":mag:",
}
_STATE_WORDS: dict[str, str] = {
    MessageKind.RESOLVED: " — resolved",
    MessageKind.ACKNOWLEDGED: " — acknowledged",
}

SLACK_API_URL = "https://slack.com/api/"  # the Web API a bot token calls


def slack_blocks(message: AlertMessage, *, in_place: bool = False) -> list[dict[str, Any]]:
    """The incident's message. `in_place` renders the incident's own first message as it
    stands now (edited with chat.update) rather than a later message about it."""
    blocks: list[dict[str, Any]] = [_header(message, in_place), _summary(message)]
    if message.details:
        blocks.append(_section("*Why*\n" + "\n".join(f"• {escape_mrkdwn(d)}"
                                                      for d in message.details), escaped=True))
    if message.samples:
        blocks.append(_section(_samples_text(message.samples), escaped=True))
    links = link_text(message.links)
    if links:
        blocks.append(_section(links, escaped=True))
    blocks.append({"type": "context", "elements": _context_elements(message)})
    return blocks


def fallback_text(message: AlertMessage, *, in_place: bool = False) -> str:
    """What notifications and clients without Block Kit show."""
    if in_place:
        return fit_mrkdwn(f"{_title(message, True)}: {message.summary}", SECTION_TEXT_LIMIT)
    named = f" (incident {message.alert_id})" if message.follow_up else ""
    return fit_mrkdwn(f"{headline(message)}{named}: {message.summary}", SECTION_TEXT_LIMIT)


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_mrkdwn(text: str, limit: int, *, escaped: bool = False) -> str:
    """`text` escaped and cut to `limit` characters, never inside an `&…;` entity."""
    text = text if escaped else escape_mrkdwn(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def link_text(links: Sequence[tuple[str, str]]) -> str:
    """`<url|label> · <url|label>` for the http(s) links; others are left out."""
    shown = [f"<{_link_url(url)}|{_link_label(label)}>" for label, url in links
             if urlsplit(url).scheme in ("http", "https")]
    return " · ".join(shown)


def _title(message: AlertMessage, in_place: bool) -> str:
    """The headline, or for the incident's own message edited in place, its state now."""
    kind = str(message.kind)
    if not in_place:
        return headline(message)
    label = "RESOLVED" if kind == MessageKind.RESOLVED else severity_label(message)
    return (f"[{label}] {service_name(message)}: {incident_types(message)}"
            + _STATE_WORDS.get(kind, ""))


def _header(message: AlertMessage, in_place: bool) -> dict[str, Any]:
    emoji = (_STATE_EMOJI.get(str(message.kind))
             or SEVERITY_EMOJI.get(str(message.severity), ":bell:"))
    text = shorten(f"{emoji} {_title(message, in_place)}", HEADER_LIMIT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _summary(message: AlertMessage) -> dict[str, Any]:
    fields = [_mrkdwn(f"*{label}*\n{escape_mrkdwn(value)}", FIELD_TEXT_LIMIT, escaped=True)
              for label, value in facts(message)[:FIELDS_LIMIT]]
    return {**_section(message.summary or headline(message)), "fields": fields}


def _samples_text(samples: Sequence[str]) -> str:
    # Three backticks in a line would end the code block early.
    lines = [escape_mrkdwn(shorten(line, SAMPLE_LINE_LIMIT)).replace("```", "'''")
             for line in samples[:SAMPLE_LIMIT]]
    return fit_mrkdwn("*Sample lines*\n```" + "\n".join(lines) + "```", SECTION_TEXT_LIMIT,
                      escaped=True)


def _context_elements(message: AlertMessage) -> list[dict[str, str]]:
    about = f"Incident `{escape_mrkdwn(message.alert_id)}`"
    if message.follow_up:
        about += f" · message {message.revision}"
        if message.first_seen:
            about += f" · first seen {escape_mrkdwn(message.first_seen)}"
    steps = [_mrkdwn(_step_text(step), FIELD_TEXT_LIMIT, escaped=True)
             for step in actions(message)]
    return [_mrkdwn(about, FIELD_TEXT_LIMIT, escaped=True), *steps][:CONTEXT_ELEMENT_LIMIT]


def _step_text(step: str) -> str:
    """A step with its command as inline code, where mrkdwn leaves `_` and `*` alone."""
    words, command = split_command(step)
    if not command or "`" in command:
        return escape_mrkdwn(step)
    return f"{escape_mrkdwn(words)}`{escape_mrkdwn(command)}`"


def _link_url(url: str) -> str:
    # `|` and `>` would end the link; `&` must be escaped inside it as anywhere else.
    return escape_mrkdwn(quote(url, safe=":/?#[]@!$&'()*+,;=%~"))


def _link_label(label: str) -> str:
    return escape_mrkdwn(label.replace("|", "/"))


def _section(text: str, *, escaped: bool = False) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, SECTION_TEXT_LIMIT, escaped=escaped)}


def _mrkdwn(text: str, limit: int, *, escaped: bool = False) -> dict[str, str]:
    return {"type": "mrkdwn", "text": fit_mrkdwn(text, limit, escaped=escaped)}
