"""One development set as it is built: its clock, its services' usual traffic, what the
incidents change in that traffic, the lines they add, and the labels they leave."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from random import Random

from workers.sample.entries import Payload, Stream, rfc3339
from workers.sample.faults import dumps
from workers.sample.loghub import LoghubLine
from workers.sample.scenario import Emitter, Replay, arrivals, ns_of

Render = Callable[[LoghubLine, int], Payload]
Tamper = Callable[[Payload, Random], Payload]  # rewrites one usual entry during an incident
Rate = Callable[[int], float]  # a traffic multiplier in (0, 1] at a time, for daily cycles
MINUTE_NS = 60 * 10**9


@dataclass(frozen=True, slots=True)
class Label:
    service: str
    start_ns: int
    end_ns: int
    kind: str

    def csv_row(self) -> str:
        end = math.ceil(self.end_ns / 1e9) * 10**9  # whole seconds that still cover the end
        return f"{self.service},{rfc3339(self.start_ns, 0)},{rfc3339(end, 0)},{self.kind}"


@dataclass
class Lane:
    """One service's usual traffic: real lines of one system, replayed in file order."""

    stream: Stream
    render: Render
    pool: Sequence[LoghubLine]
    per_minute: float
    rate: Rate | None = None
    thinned: list[tuple[int, int, float]] = field(default_factory=list)  # from, until, keep
    tampers: list[tuple[int, int, Tamper]] = field(default_factory=list)

    @property
    def service(self) -> str:
        return self.stream.service

    def thin(self, start_ns: int, end_ns: int, keep: float) -> None:
        """Keeps only `keep` of the usual entries between the two times (0: silence)."""
        self.thinned.append((start_ns, end_ns, keep))

    def tamper(self, start_ns: int, end_ns: int, change: Tamper) -> None:
        """Rewrites the usual entries between the two times with `change`."""
        self.tampers.append((start_ns, end_ns, change))

    def keeps(self, ns: int, rng: Random) -> bool:
        share = self.rate(ns) if self.rate else 1.0
        for start, end, keep in self.thinned:
            if start <= ns < end:
                share *= keep
        return share >= 1.0 or rng.random() < share

    def payload(self, line: LoghubLine, ns: int, rng: Random) -> Payload:
        payload = self.render(line, ns)
        for start, end, change in self.tampers:
            if start <= ns < end:
                payload = change(payload, rng)
        return payload


class Timeline:
    """A set under construction: `lane` its services, `label` its incidents, then `build`."""

    def __init__(self, name: str, start: datetime, hours: float, seed: int) -> None:
        self.name = name
        self.seed = seed
        self.start_ns = ns_of(start)
        self.end_ns = self.start_ns + round(hours * 3600e9)
        self.emitter = Emitter(seed)
        self.lanes: list[Lane] = []
        self.labels: list[Label] = []

    def at(self, minute: float) -> int:
        """The time `minute` minutes after the set starts."""
        return self.start_ns + round(minute * MINUTE_NS)

    def rng(self, purpose: str) -> Random:
        return Random(f"{self.seed}:{self.name}:{purpose}")

    def lane(
        self,
        stream: Stream,
        render: Render,
        pool: Sequence[LoghubLine],
        per_minute: float,
        rate: Rate | None = None,
    ) -> Lane:
        lane = Lane(stream, render, pool, per_minute, rate)
        self.lanes.append(lane)
        return lane

    def label(self, service: str, start_ns: int, end_ns: int, kind: str) -> None:
        self.labels.append(Label(service, start_ns, end_ns, kind))

    def emit(self, stream: Stream, payload: Payload, ns: int) -> None:
        self.emitter.emit(stream, payload, ns)

    def build(self) -> tuple[bytes, str]:
        """The set's JSON lines (in time order) and its labels CSV."""
        for lane in self.lanes:
            self._usual(lane)
        lines = b"".join(dumps(r.entry) + b"\n" for r in self.emitter.sorted_records())
        labels = sorted(self.labels, key=lambda label: (label.start_ns, label.service))
        rows = ["service,start,end,kind", *(label.csv_row() for label in labels)]
        return lines, "\n".join(rows) + "\n"

    def _usual(self, lane: Lane) -> None:
        rng = self.rng(f"usual:{lane.service}")
        replay = Replay(lane.pool, start=rng.randrange(len(lane.pool)))
        for ns in arrivals(rng, self.start_ns, self.end_ns, lane.per_minute):
            if lane.keeps(ns, rng):
                self.emit(lane.stream, lane.payload(replay.next(), ns, rng), ns)


def daily_cycle(low: float, peak_hour: float = 15.0) -> Rate:
    """Traffic at `low` of its peak at night, full at `peak_hour` UTC, smooth in between."""

    def rate(ns: int) -> float:
        hour = ns / 3600e9 % 24
        return low + (1 - low) * (1 + math.cos(2 * math.pi * (hour - peak_hour) / 24)) / 2

    return rate
