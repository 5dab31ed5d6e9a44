"""Exact timestamp parsing to integer nanoseconds: RFC 3339, and the prefixes of text lines.

Integer arithmetic only: a float cannot hold nanoseconds since 1970 exactly.
"""

from __future__ import annotations

import re

NS = 1_000_000_000
EARLIEST_NS = 0  # 1970-01-01: anything before is not a log time
LATEST_NS = 4_102_444_800 * NS  # 2100-01-01: anything after is not a log time either

_RFC3339 = re.compile(
    r"((\d{4})-(\d\d)-(\d\d)[Tt ](\d\d)):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))",
    re.ASCII,
)
_ISO_PREFIX = re.compile(
    r"\[?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(?: ?(?:([Zz])|([+-])(\d\d):?(\d\d))(?![\d:]))?",
    re.ASCII,
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_SYSLOG_PREFIX = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\b",
    re.ASCII,
)
_SHORT_PREFIX = re.compile(r"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)\b", re.ASCII)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


_HOUR_CACHE: dict[str, int] = {}  # "2024-05-01T12" -> its seconds since the epoch
_HOUR_CACHE_SIZE = 4096
# "2024-05-01T12:00:00" -> its nanoseconds since the epoch, for the seconds of UTC times
# ("Z") parsed whole and in range. A burst of entries shares a handful of seconds.
_SECOND_CACHE: dict[str, int] = {}
_SECOND_CACHE_SIZE = 4096
_SECOND_LEN = len("2024-05-01T12:00:00")
_NANOS_LEN = len("2024-05-01T12:00:00.123456789Z")  # the times Cloud Logging writes
_SCALE = tuple(10 ** (9 - digits) for digits in range(10))  # fraction digits -> ns factor


class TimestampError(ValueError):
    """A timestamp that is malformed, impossible (month 13) or absurd (year 2500)."""


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch for an RFC 3339 time; digits past the 9th are dropped.

    Raises TimestampError when the text is not RFC 3339, names an impossible date or time,
    or lies outside 1970..2100.
    """
    # Literal positions (see _SECOND_LEN and _NANOS_LEN): no global loads nor sums.
    second_ns = _SECOND_CACHE.get(text[:19])
    if second_ns is not None:  # a second already parsed whole: only the rest is new
        # Most times: nine digits and "Z", read with the fewest new objects (each costs).
        if len(text) == 30 and text[29] == "Z" and text[19] == ".":
            digits = text[20:29]
            if digits.isdigit() and digits.isascii():
                return second_ns + int(digits)
        rest = text[19:]
        if rest[:1] == "." and rest[-1] in "Zz":
            digits = rest[1:-1]
            # Up to nine digits (longer ones are cut): _fraction_ns inline.
            if len(digits) <= 9 and digits.isdigit() and digits.isascii():
                return second_ns + int(digits) * _SCALE[len(digits)]
        elif rest == "Z" or rest == "z":
            return second_ns
    return _parsed_ns(text)


def _parsed_ns(text: str) -> int:
    """rfc3339_ns without the cache of seconds (which it fills)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise TimestampError("is not an RFC 3339 time such as 2024-05-01T12:00:00.123Z")
    date_hour, minute, second, fraction, sign = match.group(1, 6, 7, 8, 9)
    hour_s = _HOUR_CACHE.get(date_hour)
    if hour_s is None:
        hour_s = _hour_seconds(match)
    minute_i, second_i = int(minute), int(second)
    if minute_i > 59 or second_i > 60:  # 60: a leap second
        raise TimestampError(f"has the impossible time {date_hour[11:]}:{minute}:{second}")
    seconds = hour_s + minute_i * 60 + second_i
    if sign is not None:
        seconds -= _offset_seconds(sign, match[10], match[11])
    stamp = seconds * NS + (_fraction_ns(fraction) if fraction else 0)
    if not EARLIEST_NS <= stamp < LATEST_NS:
        raise TimestampError(f"lies in the year {date_hour[:4]}, outside 1970..2099")
    if sign is None:  # no offset: the second alone gives the time, and it is in range
        if len(_SECOND_CACHE) >= _SECOND_CACHE_SIZE:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[text[:_SECOND_LEN]] = seconds * NS
    return stamp


def leading_timestamp_ns(text: str, now_ns: int) -> int | None:
    """The time a text line starts with, or None.

    Knows ISO 8601 (`2024-05-01T12:00:00.123Z`, `2015-10-18 18:01:47,978`), syslog
    (`Jun 14 15:16:01`, the year taken so the time is not in the future) and
    `yy/MM/dd HH:mm:ss`. Times without an offset are taken as UTC.
    """
    try:
        if match := _ISO_PREFIX.match(text):
            return _iso_prefix_ns(match)
        if match := _SYSLOG_PREFIX.match(text):
            return _syslog_ns(match, now_ns)
        if match := _SHORT_PREFIX.match(text):
            yy, month, day, hour, minute, second = map(int, match.groups())
            return _checked_ns(2000 + yy, month, day, hour, minute, second, 0, 0)
    except TimestampError:
        return None
    return None


def year_of(ns: int) -> int:
    """The UTC calendar year of an epoch time in nanoseconds."""
    days = ns // NS // 86_400 + 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    month_index = (5 * doy + 2) // 153
    return yoe + era * 400 + (1 if month_index >= 10 else 0)


def _iso_prefix_ns(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    offset_s = _offset_seconds(sign, off_h, off_m) if sign else 0
    return _checked_ns(
        int(year), int(month), int(day), int(hour), int(minute), int(second),
        _fraction_ns(fraction), offset_s,
    )  # fmt: skip


def _syslog_ns(match: re.Match[str], now_ns: int) -> int:
    month = _MONTHS[match[1]]
    day, hour, minute, second = int(match[2]), int(match[3]), int(match[4]), int(match[5])
    year = year_of(now_ns)
    if month == 2 and day == 29 and not _is_leap(year):
        year -= 1
    stamp = _checked_ns(year, month, day, hour, minute, second, 0, 0)
    # Syslog has no year: a time more than a day ahead of now belongs to last year.
    if stamp > now_ns + 86_400 * NS:
        stamp = _checked_ns(year - 1, month, day, hour, minute, second, 0, 0)
    return stamp


def _hour_seconds(match: re.Match[str]) -> int:
    """Seconds of the date and hour of an _RFC3339 match, checked, and cached."""
    year, month, day, hour = int(match[2]), int(match[3]), int(match[4]), int(match[5])
    seconds = _checked_ns(year, month, day, hour, 0, 0, 0, 0, bounded=False) // NS
    if len(_HOUR_CACHE) >= _HOUR_CACHE_SIZE:
        _HOUR_CACHE.clear()
    _HOUR_CACHE[match[1]] = seconds
    return seconds


def _fraction_ns(digits: str | None) -> int:
    if not digits:
        return 0
    if len(digits) > 9:
        digits = digits[:9]
    return int(digits) * _SCALE[len(digits)]


def _offset_seconds(sign: str, hours: str, minutes: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise TimestampError(f"has an impossible UTC offset {sign}{hours}:{minutes}")
    seconds = h * 3600 + m * 60
    return -seconds if sign == "-" else seconds


def _checked_ns(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    frac: int,
    offset: int,
    *,
    bounded: bool = True,
) -> int:
    if not 1 <= month <= 12:
        raise TimestampError(f"has month {month}, but months run from 1 to 12")
    days_in_month = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month]
    if not 1 <= day <= days_in_month:
        raise TimestampError(f"has day {day}, but month {month} of {year} has {days_in_month}")
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second
        raise TimestampError(f"has the impossible time {hour:02}:{minute:02}:{second:02}")
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    stamp = (seconds - offset) * NS + frac
    if bounded and not EARLIEST_NS <= stamp < LATEST_NS:
        raise TimestampError(f"lies in the year {year}, outside 1970..2099")
    return stamp


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468
