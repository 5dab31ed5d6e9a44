"""The sample's clock and the machinery every service's story uses."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from random import Random

from workers.sample.entries import InsertIds, Payload, Record, Stream, make_entry
from workers.sample.loghub import LoghubLine

DAY = datetime(2026, 11, 2, tzinfo=UTC)
START = DAY + timedelta(hours=8)
END = START + timedelta(hours=4)


def ns_of(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def at(hour: int, minute: int, second: float = 0.0) -> int:
    """Nanoseconds since the epoch of a wall-clock time on the sample's day (UTC)."""
    return ns_of(DAY) + round((hour * 3600 + minute * 60 + second) * 1e9)


def moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, UTC)


START_NS, END_NS = ns_of(START), ns_of(END)


def arrivals(rng: Random, start_ns: int, end_ns: int, per_minute: float) -> list[int]:
    """Poisson arrival times whose rate drifts slowly, ±25 % around `per_minute`."""
    period_ns = rng.uniform(35, 95) * 60e9
    phase = rng.uniform(0, 2 * math.pi)
    times: list[int] = []
    now = start_ns
    while True:
        drift = 1 + 0.25 * math.sin(2 * math.pi * now / period_ns + phase)
        now += round(rng.expovariate(per_minute * drift / 60e9))
        if now >= end_ns:
            return times
        times.append(now)


class Replay:
    """Cycles through a pool of real lines in file order, as the system logged them."""

    def __init__(self, pool: Sequence[LoghubLine], start: int = 0) -> None:
        if not pool:
            raise ValueError("an empty pool of lines cannot be replayed")
        self._pool = pool
        self._next = start % len(pool)

    def next(self) -> LoghubLine:
        line = self._pool[self._next]
        self._next = (self._next + 1) % len(self._pool)
        return line

    def restart(self) -> None:
        self._next = 0


class Emitter:
    """Collects finished entries; every entry gets a unique insert id and a receive delay."""

    def __init__(self, seed: int) -> None:
        self._rng = Random(f"{seed}:emitter")
        self._ids = InsertIds(self._rng)
        self.records: list[Record] = []
        self.per_service: Counter[str] = Counter()

    def emit(self, stream: Stream, payload: Payload, timestamp_ns: int) -> None:
        delay_ns = round(self._rng.lognormvariate(-0.4, 0.6) * 1e9)
        insert_id = self._ids.next(stream.insert_id_style, timestamp_ns)
        self.records.append(make_entry(stream, payload, timestamp_ns, insert_id, delay_ns))
        self.per_service[stream.service] += 1

    def sorted_records(self) -> list[Record]:
        return sorted(self.records, key=lambda record: record.timestamp_ns)


def steady(
    emitter: Emitter,
    stream: Stream,
    render: Callable[[LoghubLine, int], Payload],
    replay: Replay,
    times: Sequence[int],
) -> None:
    """Replays the next lines of `replay` at `times`."""
    for ns in times:
        emitter.emit(stream, render(replay.next(), ns), ns)


def spread(offsets: Sequence[int], rng: Random) -> list[int]:
    """Offsets logged at one-second precision, spread over their second in order."""
    spread_out = list(offsets[:1])
    for offset in offsets[1:]:
        step = round(rng.uniform(0.5, 30) * 1e6)  # 0.5-30 ms after the previous line
        spread_out.append(max(offset, spread_out[-1] + step))
    return spread_out


def replay_at_offsets(
    emitter: Emitter,
    stream: Stream,
    render: Callable[[LoghubLine, int], Payload],
    lines: Sequence[LoghubLine],
    offsets: Sequence[int],
    start_ns: int,
) -> int:
    """Replays `lines` keeping their real spacing, from `start_ns`; returns the last time."""
    last = start_ns
    for line, offset in zip(lines, offsets, strict=True):
        last = start_ns + offset
        emitter.emit(stream, render(line, last), last)
    return last
