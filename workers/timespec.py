"""`--since` values: a duration back from now (`30m`, `2h`, `7d`) or an RFC 3339 time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d{1,20})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_NS = 1_000_000_000
_MAX_NS = 2**63 - 1  # the stored times are signed 64-bit nanoseconds


def since_ns(text: str, now_ns: int) -> int:
    """Nanoseconds since the epoch that `text` names, relative to `now_ns` for a duration.

    Raises ValueError with a sentence for the user when `text` is neither, or names a
    time before 1970 or past what the store can hold.
    """
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if match:
        seconds = int(match[1]) * _UNIT_S[match[2]]
        if seconds * _NS > now_ns:
            days = now_ns // (_UNIT_S["d"] * _NS)
            raise ValueError(f"{text!r} reaches back before 1970; at most {days}d")
        return now_ns - seconds * _NS
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (30m, 2h, 7d) "
                         "nor an RFC 3339 time (2026-11-02T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # log times are UTC
    ns = _epoch_ns(moment)
    if not 0 <= ns <= _MAX_NS:
        raise ValueError(f"{text!r} is outside 1970 to 2262")
    return ns


def _epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000
