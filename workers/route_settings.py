"""The routes section of the config file, and the incident and link settings.

```yaml
route:                      # the default route
  receivers: [slack]
  group_wait: 30s
routes:
  - match: {service: checkout, severity: critical}
    receivers: [email, slack]
    repeat_interval: 1h
    continue: true
```
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from alerting.routes import Route, RouteTree
from pipeline.incidents import GroupBy, IncidentPolicy, Matcher

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: object) -> object:
    """Seconds from `90`, `"90s"`, `"5m"`, `"1h30m"`, `"2d"`; anything else as given."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a duration like 30s, 5m, 4h or 1d") from None
    return sum(float(n) * _UNITS[u] for n, u in parts)


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
LABELS = {"service", "stream", "project", "resource_type", "severity", "anomaly_type"}


class RouteSettings(BaseModel):
    """One route: its matchers (all must match), receivers and timing (unset: the
    default route's)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    receivers: list[str] = Field(min_length=1)
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_matching: bool = Field(False, alias="continue")

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"match_re.{name}: not a regular expression: {error}") from None
        return value

    def matchers(self) -> tuple[Matcher, ...]:
        return (*(Matcher(k, v) for k, v in sorted(self.match.items())),
                *(Matcher(k, v, regex=True) for k, v in sorted(self.match_re.items())))


class DefaultRouteSettings(BaseModel):
    """The default route; without `receivers`, the `channels` list."""

    model_config = ConfigDict(extra="forbid")

    receivers: list[str] | None = None
    group_wait: Duration = 0.0
    group_interval: Duration = 60.0
    repeat_interval: Duration = 4 * 3600.0


class IncidentSettings(BaseModel):
    """Anomalies of one stream (or service) fold into one incident until it has been
    quiet for `resolve_after`."""

    model_config = ConfigDict(extra="forbid")

    group_by: GroupBy = GroupBy.STREAM
    resolve_after: Duration = 300.0


class LinkSettings(BaseModel):
    """Links every message carries: a dashboard, and a runbook per anomaly type."""

    model_config = ConfigDict(extra="forbid")

    dashboard_url: str | None = None
    runbook_url: str | None = None  # for types without a runbook of their own
    runbooks: dict[str, str] = {}  # anomaly type -> URL
    ack_hint: bool = True  # how to acknowledge and silence, as CLI lines
    # The HTTP API as people reach it (https://logwarden.example.com/api/v1): messages
    # then also say how to acknowledge through it.
    api_url: str | None = None


def route_tree(default: DefaultRouteSettings, routes: list[RouteSettings],
               channels: list[str]) -> RouteTree:
    base = Route(tuple(default.receivers if default.receivers is not None else channels),
                 group_wait_s=default.group_wait, group_interval_s=default.group_interval,
                 repeat_interval_s=default.repeat_interval)
    return RouteTree(base, tuple(
        Route(tuple(r.receivers), r.matchers(),
              _or(r.group_wait, base.group_wait_s), _or(r.group_interval, base.group_interval_s),
              _or(r.repeat_interval, base.repeat_interval_s), r.continue_matching)
        for r in routes
    ))


def incident_policy(incidents: IncidentSettings, tree: RouteTree) -> IncidentPolicy:
    return IncidentPolicy(router=tree, quiet_s=incidents.resolve_after,
                          group_by=incidents.group_by)


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value
