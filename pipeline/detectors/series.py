"""Numbers: every number a stream's logs carry, followed as a series of its own.

Each numeric slot of a template that holds a quantity (a number with a unit, as in
`took 1.5 s` or `512MB`, or with a name, as in `queue_depth=41`), each request's
`httpRequest.latency` and, on busy streams, the share of each failing status class
become a series with one observation per batch (the batch's median), whatever the
rate. `series_stats` judges each observation against its series' baseline: spikes,
level shifts and slow drifts.

What pages, on a series seen at a steady cadence: a shift or a drift (it lasted), and a
single value so far out that it cannot be noise (`extreme`). A merely odd value is a
finding below the alerting line: one slow request does not wake anyone. State is
bounded: at most `max_series` series per stream, the stalest evicted first.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from pipeline.detectors.base import MinedBatch, inherit_slots
from pipeline.detectors.explain import clip, entry_ids, show_number
from pipeline.detectors.parameters import read_slots
from pipeline.detectors.series_stats import SeriesPolicy, SeriesStat, Signal, observe
from pipeline.findings import Evidence, Finding, duration_text

_PLACEHOLDER = re.compile(r"<\*>|<[A-Z_]+>")


class SeriesState(msgspec.Struct):
    series: dict[str, SeriesStat] = {}  # series key -> its state


@dataclass(frozen=True, slots=True)
class Observation:
    """One series' values in one batch."""

    key: str
    label: str  # the number, in words
    unit: str
    values: tuple[float, ...]
    entry_indexes: tuple[int, ...]
    template_id: str | None
    rising_only: bool = False  # only a rise is bad news (latency, failure shares)


@dataclass(frozen=True, slots=True)
class NumericSeriesDetector:
    """One finding per batch, led by the series furthest from its usual range."""

    policy: SeriesPolicy = field(default_factory=SeriesPolicy)
    max_series: int = 64
    min_requests: int = 10  # for a status-class share to be an observation
    name = "numbers"
    state_type = SeriesState

    def initial_state(self) -> SeriesState:
        return SeriesState()

    def detect(self, mined: MinedBatch, state: SeriesState) -> tuple[list[Finding], SeriesState]:
        series = dict(inherit_slots(state.series, mined.ancestors))  # a copy: updated below
        at_ns = mined.batch.end_ns
        signals: list[tuple[Observation, Signal]] = []
        for obs in observations(mined, self.min_requests):
            value = statistics.median(obs.values)
            stat = series.get(obs.key) or SeriesStat(unit=obs.unit)
            signal, series[obs.key] = observe(stat, at_ns, value, self.policy, obs.rising_only)
            if signal is not None:
                signals.append((obs, signal))
        if len(series) > self.max_series:
            keep = sorted(series, key=lambda k: (series[k].last_ns, k))[-self.max_series :]
            series = {k: series[k] for k in keep}
        findings = [self._finding(mined, signals)] if signals else []
        return findings, SeriesState(series)

    def _finding(self, mined: MinedBatch, signals: list[tuple[Observation, Signal]]) -> Finding:
        obs, signal = max(signals, key=lambda s: (_weight(s[1]), abs(s[1].z), s[0].key))
        score = _weight(signal)
        return Finding(
            detector=self.name,
            anomaly_type=f"number_{signal.shape}",
            score=score,
            summary=describe(obs, signal, mined.batch.end_ns),
            evidence=Evidence(
                entry_ids=entry_ids(mined.entries[i] for i in obs.entry_indexes),
                template_ids=(obs.template_id,) if obs.template_id else (),
                numbers={
                    "value": signal.value,
                    "usual": signal.usual,
                    "spread": signal.spread,
                    "z": round(signal.z, 2),
                    "since_s": signal.since_ns / 1e9,
                    "series_signals": len(signals),
                },
            ),
        )


def _weight(signal: Signal) -> float:
    """Shifts and drifts page; a spike pages only when extreme, else it is only noted.

    Only a series on a steady cadence pages: the numbers in occasional lines (a daily
    total, a resource count logged now and then) step whenever their events do.
    """
    if not signal.steady or signal.counter:
        return 0.45
    if signal.shape != "spike":
        return 0.75
    return 0.8 if signal.extreme else 0.45


def describe(obs: Observation, signal: Signal, at_ns: int) -> str:
    """Which number, how far from its usual range and since when, in words."""
    direction = "above" if signal.z > 0 else "below"
    how = {"spike": "jumped to", "shift": "moved to", "drift": "drifted to"}[signal.shape]
    since = datetime.fromtimestamp(signal.since_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lasted = (at_ns - signal.since_ns) / 1e9
    when = f"since {since} ({duration_text(lasted)})" if lasted >= 60 else f"at {since}"
    value, usual, spread = (
        show_number(v, obs.unit) for v in (signal.value, signal.usual, signal.spread)
    )
    return (
        f"{obs.label} {how} {value} {when}; it usually stays near {usual} ± {spread}, so this "
        f"is {abs(signal.z):.1f} spreads {direction} its usual range."
    )


def observations(mined: MinedBatch, min_requests: int) -> list[Observation]:
    """The batch's values per series: template slots, request latency, status classes."""
    found = _slot_observations(mined)
    timed = [
        (i, e.http_latency_s)
        for i, e in enumerate(mined.entries)
        if e.http_latency_s is not None and math.isfinite(e.http_latency_s)
    ]
    if timed:
        ms = tuple(s * 1000.0 for _, s in timed)
        indexes = tuple(i for i, _ in timed)
        found.append(Observation("http#latency", "Request latency", "ms", ms, indexes, None, True))
    answered = [(i, e.http_status) for i, e in enumerate(mined.entries) if e.http_status]
    if len(answered) >= min_requests:
        for low, name in ((400, "4xx"), (500, "5xx")):
            failing = tuple(i for i, status in answered if low <= (status or 0) < low + 100)
            share = 100.0 * len(failing) / len(answered)
            label = f"The share of {name} answers"
            found.append(Observation(f"http#{name}", label, "%", (share,), failing, None, True))
    return found


def _slot_observations(mined: MinedBatch) -> list[Observation]:
    # A line with a thousand numbers has a thousand slots: its template and message are
    # split, and the template clipped, once, not once a slot.
    splits: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
    clipped: dict[str, str] = {}
    found = []
    for slot in read_slots(mined):
        template_id, index, unit = slot.template_id, slot.indexes[0], slot.units[0]
        template = mined.templates.get(template_id, "")
        if not unit and (slot.position, slot.group) not in _named_groups(template):
            # A bare number in a log line is as often a date, a thread, a port or an id as
            # a quantity: only numbers with a unit or a name are followed as series.
            continue
        if (template_id, index) not in splits:
            splits[template_id, index] = (template.split(), mined.entries[index].message.split())
        name = _slot_name(*splits[template_id, index], slot.position, slot.group)
        if not unit and not name:
            continue
        if template_id not in clipped:
            clipped[template_id] = clip(mined.templates.get(template_id, "?"))
        label = _slot_label(clipped[template_id], slot.position, name)
        found.append(Observation(slot.key, label, unit, slot.values, slot.indexes, template_id))
    return found


@lru_cache(maxsize=4096)
def _named_groups(template: str) -> frozenset[tuple[int, int]]:
    """(token, group) of each placeholder the template writes `=` just before: only
    these can hold a named number."""
    return frozenset((position, group) for position, token in enumerate(template.split())
                     for group, before in enumerate(_PLACEHOLDER.split(token)[:-1])
                     if before.endswith("="))


def _slot_name(template_tokens: list[str], tokens: list[str], position: int, group: int) -> str:
    """`cpu_utilization` for the number right after `cpu_utilization=` (the template
    writes `=` just before its placeholder); "" otherwise (a bare number, or the second
    number of a token such as `steps=12##40`)."""
    if position >= min(len(tokens), len(template_tokens)):
        return ""
    before = _PLACEHOLDER.split(template_tokens[position])
    if group >= len(before) or not before[group].endswith("="):
        return ""
    name = tokens[position].split("=", 1)[0].lstrip("([{")
    return name if name and not name[0].isdigit() else ""


def _slot_label(template: str, position: int, name: str) -> str:
    if name:
        return f'The number "{name}" in "{template}"'
    return f'The number at token {position + 1} of "{template}"'
