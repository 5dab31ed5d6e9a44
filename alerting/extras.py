"""What a message carries besides the incident: links from the config (a dashboard, a
runbook per anomaly type) and how to acknowledge or silence it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from alerting.alert import AlertMessage


@dataclass(frozen=True, slots=True)
class MessageExtras:
    dashboard_url: str | None = None
    runbook_url: str | None = None  # for types without their own
    runbooks: dict[str, str] = field(default_factory=dict)  # anomaly type -> URL
    ack_hint: bool = True
    api_url: str | None = None  # the HTTP API's base (…/api/v1): acting through it too

    def runbook_for(self, message: AlertMessage) -> str | None:
        types = (message.anomaly_type, *message.anomaly_types)
        return next((self.runbooks[t] for t in types if t in self.runbooks), self.runbook_url)


def decorate(message: AlertMessage, extras: MessageExtras) -> AlertMessage:
    """`message` with the configured links and, while it is open, how to act on it."""
    links = list(message.links)
    if extras.dashboard_url:
        links.append(("Dashboard", extras.dashboard_url))
    runbook = extras.runbook_for(message)
    if runbook:
        links.append(("Runbook", runbook))
    actions = list(message.actions)
    if extras.ack_hint and message.kind not in ("resolved", "acknowledged"):
        actions += [
            f"logwarden ack {message.alert_id}",
            f"logwarden silence add service={message.service or '<service>'} "
            "--for 2h --comment '...'",
            f"logwarden feedback {message.alert_id} expected",
        ]
        if extras.api_url:
            actions.append(f"curl -X POST -H 'Authorization: Bearer <token>' "
                           f"{extras.api_url.rstrip('/')}/incidents/{message.alert_id}/ack")
    return dataclasses.replace(message, links=tuple(links), actions=tuple(actions))
