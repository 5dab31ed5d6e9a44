"""The incidents planted in the development sets. Each changes a lane's usual traffic or
adds lines of its own, and labels the stretch where the logs show it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from random import Random

from workers.devsets.timeline import MINUTE_NS, Lane, Tamper, Timeline
from workers.sample.crashloop import STARTUP_ROWS, crash_lines
from workers.sample.entries import Payload, duration
from workers.sample.loghub import LoghubLine, offsets_ns
from workers.sample.scenario import Replay, arrivals, replay_at_offsets, spread

SECOND_NS = 10**9
_ACCESS = re.compile(r"status: (\d+) len: (\d+) time: ([\d.]+)$")
_TOOK = re.compile(r"Took (\d+\.\d+) seconds")


def at_real_pace(
    tl: Timeline,
    lane: Lane,
    lines: Sequence[LoghubLine],
    minute: float,
    kind: str,
    *,
    replaces_usual: bool = False,
) -> None:
    """Replays `lines` with the spacing the system logged them at, from `minute`."""
    start = tl.at(minute)
    offsets = spread(offsets_ns(lines), tl.rng(f"{kind}:{lane.service}"))
    last = replay_at_offsets(tl.emitter, lane.stream, lane.render, lines, offsets, start)
    if replaces_usual:
        lane.thin(start, last + SECOND_NS, 0.0)
    tl.label(lane.service, start, last + SECOND_NS, kind)


def spread_over(
    tl: Timeline, lane: Lane, lines: Sequence[LoghubLine], minute: float, minutes: float, kind: str
) -> None:
    """`lines` at random moments of `minutes`, in order (a failure that keeps recurring)."""
    rng = tl.rng(f"{kind}:{lane.service}")
    start, span = tl.at(minute), round(minutes * MINUTE_NS)
    times = sorted(start + rng.randrange(span) for _ in lines)
    for line, ns in zip(lines, times, strict=True):
        tl.emit(lane.stream, lane.render(line, ns), ns)
    tl.label(lane.service, start, times[-1] + SECOND_NS, kind)


def extra_traffic(
    tl: Timeline,
    lane: Lane,
    pool: Sequence[LoghubLine],
    minute: float,
    minutes: float,
    per_minute: float,
    kind: str,
) -> None:
    """`per_minute` more entries, drawn in order from `pool`, for `minutes`."""
    rng = tl.rng(f"{kind}:{lane.service}")
    start, end = tl.at(minute), tl.at(minute + minutes)
    replay = Replay(pool, start=rng.randrange(len(pool)))
    times = arrivals(rng, start, end, per_minute)
    for ns in times:
        tl.emit(lane.stream, lane.render(replay.next(), ns), ns)
    tl.label(lane.service, start, times[-1] + SECOND_NS, kind)


def quiet(tl: Timeline, lane: Lane, minute: float, minutes: float, keep: float, kind: str) -> None:
    """The service logs only `keep` of its usual entries for `minutes` (0: nothing)."""
    start, end = tl.at(minute), tl.at(minute + minutes)
    lane.thin(start, end, keep)
    tl.label(lane.service, start, end, kind)


def tampered(
    tl: Timeline, lane: Lane, minute: float, minutes: float, change: Tamper, kind: str
) -> None:
    """The usual entries of `minutes` rewritten by `change`."""
    start, end = tl.at(minute), tl.at(minute + minutes)
    lane.tamper(start, end, change)
    tl.label(lane.service, start, end, kind)


def crash_loop(
    tl: Timeline, lane: Lane, lines: Sequence[LoghubLine], minute: float, minutes: float
) -> None:
    """Spark's executor starts, runs a few tasks and dies of OOM, again and again."""
    rng = tl.rng(f"crash:{lane.service}")
    start = until = tl.at(minute)
    while start < tl.at(minute + minutes):
        alive = lines[: rng.randint(STARTUP_ROWS + 6, STARTUP_ROWS + 14)]
        up = replay_at_offsets(
            tl.emitter, lane.stream, lane.render, alive, spread(offsets_ns(alive), rng), start
        )
        scratch = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}"
        death = up + round(rng.uniform(2.0, 6.0) * SECOND_NS)
        until = replay_at_offsets(
            tl.emitter,
            lane.stream,
            lane.render,
            crash_lines(rng.randrange(40), scratch),
            [0, 4_000_000, 41_000_000, 43_000_000, 47_000_000],
            death,
        )
        start = until + round(rng.uniform(14.0, 22.0) * SECOND_NS)  # kubelet back-off
    boot = lines[:STARTUP_ROWS]  # the next start survives
    up = replay_at_offsets(
        tl.emitter, lane.stream, lane.render, boot, spread(offsets_ns(boot), rng), start
    )
    lane.thin(tl.at(minute), up, 0.0)
    tl.label(lane.service, tl.at(minute), until + SECOND_NS, "crash_loop")


def slower(factor: float) -> Tamper:
    """Requests take `factor` times as long (the access line and `httpRequest` agree)."""

    def change(payload: Payload, rng: Random) -> Payload:
        return _access(payload, latency=lambda s: s * factor * rng.uniform(0.8, 1.25))

    return change


def failing(share: float, statuses: Sequence[int] = (500, 503)) -> Tamper:
    """`share` of the requests answer 5xx, logged at ERROR."""

    def change(payload: Payload, rng: Random) -> Payload:
        if rng.random() >= share:
            return payload
        return _access(payload, status=rng.choice(statuses))

    return change


def _access(
    payload: Payload, *, latency: Callable[[float], float] | None = None, status: int | None = None
) -> Payload:
    request = payload.extra.get("httpRequest")
    if request is None or not isinstance(payload.value, dict):
        return payload
    old = _ACCESS.search(payload.value["message"])
    if old is None:
        return payload
    seconds = float(old[3]) if latency is None else latency(float(old[3]))
    code = int(old[1]) if status is None else status
    text = f"status: {code} len: {old[2]} time: {seconds:.7f}"
    message = {**payload.value, "message": _ACCESS.sub(text, payload.value["message"])}
    request = {**request, "status": code, "latency": duration(round(seconds, 6))}
    severity = "ERROR" if code >= 500 else payload.severity
    extra = {**payload.extra, "httpRequest": request}
    return replace(payload, severity=severity, value=message, extra=extra)


def scaled_durations(factor: float) -> Tamper:
    """Every 'Took N seconds' reads `factor` times N."""

    def change(payload: Payload, rng: Random) -> Payload:
        if not isinstance(payload.value, dict):
            return payload
        text = payload.value["message"]
        scaled = _TOOK.sub(lambda m: f"Took {float(m[1]) * factor:.2f} seconds", text)
        return (
            payload
            if scaled == text
            else replace(payload, value={**payload.value, "message": scaled})
        )

    return change
