"""The escalation ledger: what economy needs to remember, in memory or in Redis.

Per fingerprint: a claim while an escalation is queued or running (so concurrent ones
collapse into one) and the last verdict, kept for the cool-down (so it is reused rather
than asked again). Fleet-wide: calls per minute (the rate limit) and tokens and cost
per UTC day (the budget). Redis is cache here, never the only copy: every call is also
stored in Postgres.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import msgspec

from pipeline.anomaly import Verdict

if TYPE_CHECKING:  # the embedded run keeps its ledger in memory: no Redis to import
    import redis


@dataclass(frozen=True, slots=True)
class CachedVerdict:
    """A verdict on a fingerprint, and the severity of the anomaly it judged."""

    verdict: Verdict
    severity_rank: int
    at: float  # epoch seconds


class EscalationLedger(Protocol):
    def claim(self, fingerprint: str, ttl_s: float) -> bool:
        """Takes the fingerprint's in-flight claim; False when another escalation holds it."""
        ...

    def release(self, fingerprint: str) -> None:
        """Gives the claim up (the escalation finished, or failed)."""
        ...

    def cached(self, fingerprint: str) -> CachedVerdict | None:
        """The verdict kept for the fingerprint's cool-down, if any."""
        ...

    def keep(self, fingerprint: str, cached: CachedVerdict, cooldown_s: float) -> None:
        """Keeps a verdict for `cooldown_s`."""
        ...

    def take_call(self, per_minute: int) -> bool:
        """Counts one call in this minute, fleet-wide; False (not counted) past the limit."""
        ...

    def spend(self, tokens: int, cost_usd: float) -> None:
        """Adds a call's tokens and estimated cost to today's totals."""
        ...

    def today(self) -> tuple[int, float]:
        """Tokens and estimated cost (USD) spent so far this UTC day."""
        ...


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")


class InMemoryLedger:
    """The embedded mode's and tests' ledger: one process, a lock, an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, float] = {}
        self._verdicts: dict[str, tuple[CachedVerdict, float]] = {}
        self._minutes: dict[int, int] = {}
        self._days: dict[str, tuple[int, float]] = {}

    def claim(self, fingerprint: str, ttl_s: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._claims.get(fingerprint, 0.0) > now:
                return False
            self._claims[fingerprint] = now + ttl_s
            return True

    def release(self, fingerprint: str) -> None:
        with self._lock:
            self._claims.pop(fingerprint, None)

    def cached(self, fingerprint: str) -> CachedVerdict | None:
        with self._lock:
            kept = self._verdicts.get(fingerprint)
            return kept[0] if kept and kept[1] > self._clock() else None

    def keep(self, fingerprint: str, cached: CachedVerdict, cooldown_s: float) -> None:
        with self._lock:
            self._verdicts[fingerprint] = (cached, self._clock() + cooldown_s)

    def take_call(self, per_minute: int) -> bool:
        with self._lock:
            minute = int(self._clock() // 60)
            if self._minutes.get(minute, 0) >= per_minute:
                return False
            self._minutes = {minute: self._minutes.get(minute, 0) + 1}
            return True

    def spend(self, tokens: int, cost_usd: float) -> None:
        with self._lock:
            day = _day(self._clock())
            spent, cost = self._days.get(day, (0, 0.0))
            self._days[day] = (spent + tokens, cost + cost_usd)

    def today(self) -> tuple[int, float]:
        with self._lock:
            return self._days.get(_day(self._clock()), (0, 0.0))


class RedisLedger:
    """The fleet's ledger; keys under `prefix` + `llm:`."""

    def __init__(
        self, client: redis.Redis, prefix: str = "logwarden:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._prefix = f"{prefix}llm:"
        self._clock = clock

    def claim(self, fingerprint: str, ttl_s: float) -> bool:
        key = f"{self._prefix}claim:{fingerprint}"
        return bool(self._redis.set(key, b"1", nx=True, ex=max(1, int(ttl_s))))

    def release(self, fingerprint: str) -> None:
        self._redis.delete(f"{self._prefix}claim:{fingerprint}")

    def cached(self, fingerprint: str) -> CachedVerdict | None:
        raw = self._redis.get(f"{self._prefix}verdict:{fingerprint}")
        if raw is None:
            return None
        try:
            return msgspec.json.decode(bytes(raw), type=CachedVerdict)
        except msgspec.DecodeError:  # written by an older version: ask again
            return None

    def keep(self, fingerprint: str, cached: CachedVerdict, cooldown_s: float) -> None:
        self._redis.set(f"{self._prefix}verdict:{fingerprint}", msgspec.json.encode(cached),
                        ex=max(1, int(cooldown_s)))

    def take_call(self, per_minute: int) -> bool:
        key = f"{self._prefix}calls:{int(self._clock() // 60)}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
        if count > per_minute:
            self._redis.decr(key)
            return False
        return True

    def spend(self, tokens: int, cost_usd: float) -> None:
        day = _day(self._clock())
        pipe = self._redis.pipeline(transaction=True)
        pipe.incrby(f"{self._prefix}tokens:{day}", tokens)
        pipe.incrbyfloat(f"{self._prefix}cost:{day}", cost_usd)
        pipe.expire(f"{self._prefix}tokens:{day}", 3 * 86400)
        pipe.expire(f"{self._prefix}cost:{day}", 3 * 86400)
        pipe.execute()

    def today(self) -> tuple[int, float]:
        day = _day(self._clock())
        tokens, cost = self._redis.mget(f"{self._prefix}tokens:{day}", f"{self._prefix}cost:{day}")
        return int(tokens or 0), float(cost or 0.0)
