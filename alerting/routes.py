"""Routes: which receivers hear of an incident, and how soon and how often.

As in Alertmanager: routes are tried in order; the first whose matchers all match the
incident takes it, and with `continue` the next matching ones do too; an incident no
route takes goes to the default route. Each route names its receivers and its timing:
`group_wait` before the first page (anomalies that come meanwhile join it),
`group_interval` between updates, `repeat_interval` before paging a still-firing,
unacknowledged incident again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.incidents import IncidentFacts, Matcher, Target, all_match


@dataclass(frozen=True, slots=True)
class Route:
    receivers: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    group_wait_s: float = 0.0
    group_interval_s: float = 60.0
    repeat_interval_s: float = 4 * 3600.0
    continue_matching: bool = False

    def targets(self) -> list[Target]:
        return [Target(r, self.group_wait_s, self.group_interval_s, self.repeat_interval_s)
                for r in self.receivers]


@dataclass(frozen=True, slots=True)
class RouteTree:
    """A `pipeline.incidents.Router`: the routes in order, then the default route."""

    default: Route
    routes: tuple[Route, ...] = ()

    def matching(self, facts: IncidentFacts) -> list[Route]:
        chosen: list[Route] = []
        for route in self.routes:
            if all_match(route.matchers, facts):
                chosen.append(route)
                if not route.continue_matching:
                    break
        return chosen or [self.default]

    def targets(self, facts: IncidentFacts) -> Sequence[Target]:
        """Each receiver once, with the first matching route's timing."""
        seen: dict[str, Target] = {}
        for route in self.matching(facts):
            for target in route.targets():
                seen.setdefault(target.receiver, target)
        return list(seen.values())

    def receivers(self) -> set[str]:
        """Every receiver any route names (each must be configured)."""
        return {r for route in (self.default, *self.routes) for r in route.receivers}
