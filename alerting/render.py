"""Text every channel shares: the headline and the plain-text body of an alert.

Messages may come back from the outbox with the severity as a plain string and the
details as a list, so everything here reads them through `str()` and iteration only.
"""

from __future__ import annotations

from alerting.alert import AlertMessage


def severity_label(message: AlertMessage) -> str:
    """`CRITICAL`, `WARNING`, `INFO`."""
    return str(message.severity).upper()


def service_of(stream: str) -> str:
    """The service part of a `project/resource_type/service` stream name."""
    return stream.rsplit("/", 1)[-1] or stream


def type_words(anomaly_type: str) -> str:
    """`error_burst` → `error burst`."""
    return anomaly_type.replace("_", " ")


def headline(message: AlertMessage) -> str:
    """One line to recognise an alert by: `[CRITICAL] checkout: error burst`; a
    follow-up's starts with `Re: `."""
    return ("Re: " if message.follow_up else "") + (
        f"[{severity_label(message)}] {service_of(message.stream)}: "
        f"{type_words(message.anomaly_type)}"
    )


def facts(message: AlertMessage) -> list[tuple[str, str]]:
    """The labelled facts of an alert, in display order; empty ones left out."""
    pairs = [
        ("Stream", message.stream),
        ("Type", message.anomaly_type),
        ("First seen", message.first_seen),
        ("Count", str(message.anomaly_count)),
        ("Review", message.review),
    ]
    return [(label, value) for label, value in pairs if value]


def plain_text(message: AlertMessage) -> str:
    """A compact multi-line rendering: headline, facts, summary, one line per detail."""
    lines = [headline(message)]
    lines += [f"  {label.lower()}: {value}" for label, value in facts(message)]
    if message.summary:
        lines.append(f"  {message.summary}")
    lines += [f"  - {detail}" for detail in message.details]
    return "\n".join(lines) + "\n"


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"
