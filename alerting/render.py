"""Text every channel shares: the headline, the facts and the plain-text body of an alert.

Messages may come back from the outbox with the severity as a plain string and the
details as a list, so everything here reads them through `str()` and iteration only.
"""

from __future__ import annotations

from alerting.alert import AlertMessage, MessageKind

# What a later message of an incident says it is, after its headline.
_KIND_SUFFIX: dict[str, str] = {
    MessageKind.UPDATE: " (updated)",
    MessageKind.ACKNOWLEDGED: " (acknowledged)",
    MessageKind.RESOLVED: " (resolved)",
}


def severity_label(message: AlertMessage) -> str:
    """`CRITICAL`, `WARNING`, `INFO`."""
    return str(message.severity).upper()


def service_of(stream: str) -> str:
    """The service part of a `project/resource_type/service` stream name."""
    return stream.rsplit("/", 1)[-1] or stream


def service_name(message: AlertMessage) -> str:
    """The message's service, or the one its stream names."""
    return message.service or service_of(message.stream)


def type_words(anomaly_type: str) -> str:
    """`error_burst` → `error burst`."""
    return anomaly_type.replace("_", " ")


def incident_types(message: AlertMessage) -> str:
    """`error burst`, or `error burst +2 more` when the incident holds other types."""
    others = len(set(message.anomaly_types) - {message.anomaly_type})
    return type_words(message.anomaly_type) + (f" +{others} more" if others else "")


def headline(message: AlertMessage) -> str:
    """One line to recognise an incident by: `[CRITICAL] checkout: error burst`. A later
    message starts with `Re: ` (mail clients thread on it) and says what it is."""
    text = f"[{severity_label(message)}] {service_name(message)}: {incident_types(message)}"
    if not message.follow_up:
        return text
    return f"Re: {text}{_KIND_SUFFIX.get(str(message.kind), '')}"


def window_text(message: AlertMessage) -> str:
    """`start to end`, `since start`, or the first-seen time; empty when none is known."""
    start = message.window_start or message.first_seen
    if start and message.window_end and message.window_end != start:
        return f"{start} to {message.window_end}"
    return f"since {start}" if start else ""


def facts(message: AlertMessage) -> list[tuple[str, str]]:
    """The labelled facts of an alert, in display order; empty ones left out."""
    pairs = [
        ("Service", message.service),
        ("Project", message.project),
        ("Stream", message.stream),
        ("Type", ", ".join(message.anomaly_types) or message.anomaly_type),
        ("First seen", "" if message.window_start else message.first_seen),
        ("Window", window_text(message) if message.window_start else ""),
        ("Resolved", message.resolved_at),
        ("Acknowledged by", dict(message.labels).get("acknowledged_by", "")),
        ("Count", str(message.anomaly_count)),
        ("Review", message.review),
    ]
    return [(label, value) for label, value in pairs if value]


def actions(message: AlertMessage) -> tuple[str, ...]:
    """How to acknowledge or silence: the message's own lines, or the CLI's while the
    incident is still open."""
    if message.actions:
        return message.actions
    if str(message.kind) in (MessageKind.RESOLVED, MessageKind.ACKNOWLEDGED):
        return ()
    return (f"Acknowledge: logwarden ack {message.alert_id}",
            f"Silence: logwarden silence add service={service_name(message)}")


COMMANDS = ("logwarden ", "curl ")


def split_command(step: str) -> tuple[str, str]:
    """`("Acknowledge: ", "logwarden ack 7f3a")`: a step's words, then the command in it
    (to show as code), or the whole step and "" when it holds none."""
    for start in (0, step.find(": ") + 2 if ": " in step else -1):
        if start >= 0 and step.startswith(COMMANDS, start):
            return step[:start], step[start:]
    return step, ""


def plain_text(message: AlertMessage) -> str:
    """A compact multi-line rendering: headline, facts, summary, details, sample lines,
    links and how to act."""
    lines = [headline(message)]
    lines += [f"  {label.lower()}: {value}" for label, value in facts(message)]
    if message.summary:
        lines.append(f"  {message.summary}")
    lines += [f"  - {detail}" for detail in message.details]
    if message.samples:
        lines += ["  sample lines:", *(f"    {line}" for line in message.samples)]
    lines += [f"  {label}: {url}" for label, url in message.links]
    lines += [f"  {action}" for action in actions(message)]
    return "\n".join(lines) + "\n"


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"
