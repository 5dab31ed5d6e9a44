"""When to try a failed delivery again, and when to stop.

Exponential backoff with full jitter: the n-th wait is drawn uniformly from
[0, min(cap, base * 2^(n-1))], so retries from many workers spread out instead of
arriving together. A receiver's Retry-After is a floor: it is never undercut.
"""

from __future__ import annotations

import random

# The attempt that fails for the MAX_ATTEMPTS-th time is final. With the defaults below the
# waits before it average about 8.5 minutes in all (at most 17), Retry-After aside: long
# enough to ride out a webhook outage or a mail relay restart, short enough that a stuck
# alert is reported as failed while it still matters.
MAX_ATTEMPTS = 10

BASE_DELAY_S = 2.0
MAX_DELAY_S = 600.0


def next_retry_delay(
    attempt: int,
    retry_after_s: float | None = None,
    *,
    base_s: float = BASE_DELAY_S,
    cap_s: float = MAX_DELAY_S,
    rng: random.Random,
) -> float:
    """Seconds to wait after the `attempt`-th failed attempt (1 for the first failure).

    Uniform in [0, min(cap_s, base_s * 2^(attempt-1))], raised to `retry_after_s` when the
    receiver asked for longer. Deterministic for a seeded `rng`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    # The exponent is bounded so a long-failing message cannot overflow the float.
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 64))
    delay = rng.uniform(0.0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


def attempts_left(attempt: int) -> bool:
    """Whether a message that has failed `attempt` times may be tried again."""
    return attempt < MAX_ATTEMPTS
