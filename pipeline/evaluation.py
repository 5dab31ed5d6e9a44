"""Scoring detection against labeled incidents: window-level counts and false alerts.

A *window* is one batch (one stream, about a minute of log time), or the stretch a
scheduled silence check looked at. A window is positive when it overlaps a labeled
incident of its service. Each *source* (a detector, Logwarden's stored anomalies as
"combined", or the baseline rule) flags windows; flags that share a group key within one
alert window form one *alert*, the way the store groups anomalies by fingerprint. An
alert is false when none of its windows overlaps an incident.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.entry import LogEntry

COMBINED = "combined"
BASELINE = "baseline"
BASELINE_SHARE = 0.10  # the baseline fires above this share of error lines...
BASELINE_REPEATS = 5  # ...or on this many identical error lines in one batch
DAY_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Incident:
    """A labeled stretch of one service's logs where something was wrong."""

    service: str
    start_ns: int
    end_ns: int
    kind: str = ""

    def overlaps(self, service: str, start_ns: int, end_ns: int) -> bool:
        return service == self.service and start_ns <= self.end_ns and end_ns >= self.start_ns


@dataclass(frozen=True, slots=True)
class Flag:
    """One source flagging a window; `group` decides which flags form one alert."""

    source: str
    group: str
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    service: str
    start_ns: int
    end_ns: int
    flags: tuple[Flag, ...] = ()

    def flagged_by(self, source: str) -> bool:
        return any(f.source == source for f in self.flags)


@dataclass(frozen=True, slots=True)
class FalseAlert:
    source: str
    service: str
    start_ns: int
    end_ns: int
    windows: int
    summary: str


@dataclass(frozen=True, slots=True)
class Confusion:
    """One source's confusion counts, and the precision, recall and F1 they give."""

    source: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)


@dataclass(frozen=True, slots=True)
class Score(Confusion):
    """One source's confusion counts and false alerts over the whole run."""

    alerts: int
    false_alerts: int
    hours: float
    service_days: float

    @property
    def false_alerts_per_hour(self) -> float:
        return _ratio(self.false_alerts, self.hours)

    @property
    def false_alerts_per_service_day(self) -> float:
        return _ratio(self.false_alerts, self.service_days)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def baseline_flags(entries: Sequence[LogEntry]) -> list[Flag]:
    """The baseline rule: error share above 10 %, or at least 5 identical error lines."""
    errors = [e.message for e in entries if e.severity.is_error]
    flags = []
    if entries and len(errors) / len(entries) > BASELINE_SHARE:
        share = len(errors) / len(entries)
        flags.append(Flag(BASELINE, "error-share", f"{len(errors)} errors ({share:.0%})"))
    repeated = [m for m, n in Counter(errors).most_common(1) if n >= BASELINE_REPEATS]
    if repeated:
        flags.append(Flag(BASELINE, f"same:{repeated[0]}", f"repeated error: {repeated[0]}"))
    return flags


def positive(window: Window, incidents: Sequence[Incident]) -> bool:
    return any(i.overlaps(window.service, window.start_ns, window.end_ns) for i in incidents)


def with_missed_incidents(windows: Sequence[Window], incidents: Sequence[Incident]) -> list[Window]:
    """`windows` plus an unflagged window for each incident no window overlaps (its
    service logged nothing then and no check noticed): it counts as missed, not ignored."""
    extra = [
        Window(i.service, i.start_ns, i.end_ns)
        for i in incidents
        if not any(i.overlaps(w.service, w.start_ns, w.end_ns) for w in windows)
    ]
    return [*windows, *extra]


def score(
    source: str,
    windows: Sequence[Window],
    incidents: Sequence[Incident],
    alert_window_s: float,
) -> tuple[Score, list[FalseAlert]]:
    """Window-level confusion counts of `source` and its false alerts.

    `windows` should already hold the missed incidents (`with_missed_incidents`).
    """
    counts: Counter[str] = Counter()
    for w in windows:
        hit, flagged = positive(w, incidents), w.flagged_by(source)
        counts["tp" if hit and flagged else "fn" if hit else "fp" if flagged else "tn"] += 1
    alerts = _alerts(source, windows, alert_window_s)
    false = [a for a in alerts if not any(positive(w, incidents) for w in alerts[a])]
    hours, service_days = log_time(windows)
    result = Score(
        source,
        counts["tp"],
        counts["fp"],
        counts["fn"],
        counts["tn"],
        len(alerts),
        len(false),
        hours,
        service_days,
    )
    return result, [_false_alert(source, alerts[a]) for a in false]


AlertKey = tuple[str, str, int]  # service, group, alert window start


def _alerts(
    source: str, windows: Iterable[Window], alert_window_s: float
) -> dict[AlertKey, list[Window]]:
    """Flags grouped as the store groups anomalies: same group, same aligned window."""
    span = max(1, round(alert_window_s * 1e9))
    alerts: dict[AlertKey, list[Window]] = {}
    for w in windows:
        for group in sorted({f.group for f in w.flags if f.source == source}):
            alerts.setdefault((w.service, group, w.start_ns // span * span), []).append(w)
    return alerts


def _false_alert(source: str, windows: list[Window]) -> FalseAlert:
    first = min(windows, key=lambda w: w.start_ns)
    summary = next(f.summary for f in first.flags if f.source == source)
    return FalseAlert(
        source, first.service, first.start_ns, max(w.end_ns for w in windows), len(windows), summary
    )


def log_time(windows: Iterable[Window]) -> tuple[float, float]:
    """Hours from the first to the last window, and service-days (each service's own
    first-to-last span, added up)."""
    spans: dict[str, tuple[int, int]] = {}
    for w in windows:
        low, high = spans.get(w.service, (w.start_ns, w.end_ns))
        spans[w.service] = (min(low, w.start_ns), max(high, w.end_ns))
    if not spans:
        return 0.0, 0.0
    start = min(low for low, _ in spans.values())
    end = max(high for _, high in spans.values())
    service_s = sum(high - low for low, high in spans.values()) / 1e9
    return (end - start) / 3.6e12, service_s / DAY_S


@dataclass(frozen=True, slots=True)
class IncidentResult:
    """How one incident was seen: its windows, and how many of them each source flagged."""

    incident: Incident
    windows: int
    flagged: dict[str, int]


def incident_results(
    windows: Sequence[Window], incidents: Sequence[Incident], sources: Sequence[str]
) -> list[IncidentResult]:
    results = []
    for incident in incidents:
        mine = [w for w in windows if incident.overlaps(w.service, w.start_ns, w.end_ns)]
        flagged = {s: sum(w.flagged_by(s) for w in mine) for s in sources}
        results.append(IncidentResult(incident, len(mine), flagged))
    return results
