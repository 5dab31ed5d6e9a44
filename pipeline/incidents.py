"""Incidents as the domain sees them: what a route or a silence matches on, who gets
told and when, and when an incident has grown enough to tell them again.

Pure: no database and no clock. The store folds anomalies into incidents and asks a
`Router` (the routes of the config file, `alerting.routes`) whom to tell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Protocol

from pipeline.entry import StreamKey


class IncidentState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    """What one message of an incident says (`AlertMessage.kind`)."""

    FIRING = "firing"  # the first page, and a repeat of it while unacknowledged
    UPDATE = "update"  # grew: worse severity, a new anomaly type, a count past a mark
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REVIEW = "review"  # the LLM's verdict, followed up


class GroupBy(StrEnum):
    """What one incident spans: one stream, or every stream of one service."""

    STREAM = "stream"
    SERVICE = "service"


# An incident that reaches these many anomalies has grown: its receivers hear of it.
GROWTH_MARKS = frozenset({5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10000})
# The severities an incident can have, lowest first.
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def group_key(stream: StreamKey, group_by: GroupBy) -> str:
    """The key open incidents are unique on."""
    if group_by is GroupBy.SERVICE:
        return f"{stream.project}/{stream.service}"
    return str(stream)


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What routes, silences and inhibition look at: the incident's labels."""

    stream: str
    severity: str
    anomaly_types: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> StreamKey:
        return StreamKey.parse(self.stream)

    def values(self, name: str) -> tuple[str, ...]:
        """The values of label `name`; an incident has one per anomaly type it holds."""
        key = self.key
        fixed = {"stream": self.stream, "service": key.service, "project": key.project,
                 "resource_type": key.resource_type, "severity": self.severity}
        if name in fixed:
            return (fixed[name],)
        if name == "anomaly_type":
            return self.anomaly_types
        value = self.labels.get(name)
        return () if value is None else (value,)


@dataclass(frozen=True, slots=True)
class Matcher:
    """`name = value`, or `name =~ regex` (anchored, as in Alertmanager)."""

    name: str
    value: str
    regex: bool = False

    def matches(self, facts: IncidentFacts) -> bool:
        values = facts.values(self.name)
        if self.regex:
            pattern = _compiled(self.value)
            return any(pattern.fullmatch(v) for v in values)
        return self.value in values

    def __str__(self) -> str:
        return f"{self.name}{'=~' if self.regex else '='}{self.value}"

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`service=checkout` or `stream=~acme-prod/.*`; ValueError when neither."""
        name, regex, value = _split_matcher(text)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"matcher {text!r}: a label name is lowercase letters, digits, _")
        if regex:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"matcher {text!r}: not a regular expression: {error}") from None
        return cls(name, value, regex)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "regex": self.regex}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Matcher:
        return cls(str(data["name"]), str(data["value"]), bool(data.get("regex")))


def _split_matcher(text: str) -> tuple[str, bool, str]:
    if "=~" in text:
        name, value = text.split("=~", 1)
        return name.strip(), True, value.strip()
    if "=" in text:
        name, value = text.split("=", 1)
        return name.strip(), False, value.strip()
    raise ValueError(f"matcher {text!r}: write name=value or name=~regex")


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def all_match(matchers: Sequence[Matcher], facts: IncidentFacts) -> bool:
    return all(m.matches(facts) for m in matchers)


@dataclass(frozen=True, slots=True)
class Target:
    """One receiver of an incident, with the route's timing (seconds; 0 = at once,
    and for `repeat_interval_s` never)."""

    receiver: str
    group_wait_s: float = 0.0
    group_interval_s: float = 0.0
    repeat_interval_s: float = 0.0


class Router(Protocol):
    def targets(self, facts: IncidentFacts) -> Sequence[Target]:
        """The receivers of an incident with these facts, each once, in a stable order."""
        ...


@dataclass(frozen=True, slots=True)
class StaticRouter:
    """Every incident to the same receivers, at once: the old `channels` list."""

    receivers: tuple[str, ...] = ()

    def targets(self, facts: IncidentFacts) -> Sequence[Target]:
        return [Target(r) for r in sorted(set(self.receivers))]


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """How anomalies become incidents: grouped by stream or service, resolved after
    `quiet_s` without a new anomaly, routed by `router`."""

    router: Router = field(default_factory=StaticRouter)
    quiet_s: float = 300.0
    group_by: GroupBy = GroupBy.STREAM

    @property
    def quiet_ns(self) -> int:
        return round(self.quiet_s * 1e9)


def grew(old_severity: str, new_severity: str, old_types: Sequence[str], new_type: str,
         count: int) -> bool:
    """Whether one more anomaly makes the incident worth telling about again."""
    worse = SEVERITY_RANK.get(new_severity, 0) > SEVERITY_RANK.get(old_severity, 0)
    return worse or new_type not in old_types or count in GROWTH_MARKS
