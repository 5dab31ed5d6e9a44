"""A circuit breaker: after repeated failures, stop calling for a while, then try once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed: calls go through. `threshold` failures in a row open it for `open_s`;
    then one trial call is let through (half-open): success closes it, failure reopens."""

    def __init__(
        self, threshold: int = 5, open_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.open_s = open_s
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Whether a call may go out now (claims the one trial call when half-open)."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._clock() < self._open_until or self._trial:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._open_until, self._trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._open_until = self._clock() + self.open_s
            self._trial = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None
