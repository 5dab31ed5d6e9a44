"""Parameters: a number in a known message (a duration, a size, a retry count) far
outside the range it usually takes.

Numbers are read by aligning the message's tokens with its template's: a template token
holding a placeholder (`<*>`, `<NUM>`, ...) becomes a regex whose groups pick the values.
Each (template, token, group) keeps a histogram of its values on a log scale, decayed
in time; a value is an outlier when it exceeds the histogram's high quantile
`min_ratio` times over. Unitless slots whose median is huge hold ids, not quantities.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec

from pipeline.detectors.base import MinedBatch, inherit_slots
from pipeline.detectors.explain import clip, entry_ids, show_number
from pipeline.detectors.sustain import Streak, Sustain, ramp
from pipeline.findings import Evidence, Finding
from pipeline.lru import BoundedLru

_PLACEHOLDER = re.compile(r"<\*>|<[A-Z_]+>")
_NUMBER = re.compile(
    r"^[(\[]?(?:[A-Za-z_][\w.-]*[=:])?([-+]?\d{1,12}(?:\.\d+)?)([a-zA-Zµ%]*)[)\],;:.]?$"
)
# Times in milliseconds and sizes in bytes: the values stay mostly above 1, where the
# log1p scale of the histogram tells them apart.
_UNITS = {
    "": ("", 1.0),
    "%": ("%", 1.0),
    "ns": ("ms", 1e-6),
    "us": ("ms", 1e-3),
    "µs": ("ms", 1e-3),
    "ms": ("ms", 1.0),
    "s": ("ms", 1e3),
    "sec": ("ms", 1e3),
    "secs": ("ms", 1e3),
    "second": ("ms", 1e3),
    "seconds": ("ms", 1e3),
    "m": ("ms", 6e4),
    "min": ("ms", 6e4),
    "mins": ("ms", 6e4),
    "minute": ("ms", 6e4),
    "minutes": ("ms", 6e4),
    "h": ("ms", 3.6e6),
    "hr": ("ms", 3.6e6),
    "hrs": ("ms", 3.6e6),
    "hour": ("ms", 3.6e6),
    "hours": ("ms", 3.6e6),
    "b": ("B", 1.0),
    "kb": ("B", 1e3),
    "kib": ("B", 1024.0),
    "mb": ("B", 1e6),
    "mib": ("B", 1024.0**2),
    "gb": ("B", 1e9),
    "gib": ("B", 1024.0**3),
    "bytes": ("B", 1.0),
}
# Masking folds "19.05 seconds" into one <DURATION> token; gluing the unit to its number
# gives the message the template's token count again. (Sizes written apart, "2364 bytes
# result sent", are left out: their spread in healthy logs drowns the signal.)
_SPACED_DURATION = re.compile(
    r"(\d)\s(?=(?:ns|us|µs|ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?)(?!\w))"
)
BUCKETS_PER_E = 4  # a bucket spans a factor of e^(1/4), about 1.28
# The template's token count, and per token holding a placeholder: its index, its regex
# (None when the token is the placeholder alone: the whole token is its value) and the
# unit the template writes after it ("took <*> ms"), if any.
Slot = tuple[int, re.Pattern[str] | None, str]
Pattern = tuple[int, tuple[Slot, ...]]
Number = tuple[str, float, str]  # slot key, value, unit


class ParamStat(msgspec.Struct, frozen=True, array_like=True):
    buckets: dict[int, float]  # bucket of log1p(value) -> count, decayed in time
    n: int  # values ever read
    at_ns: int
    unit: str

    def aged(self, now_ns: int, tau_s: float) -> dict[int, float]:
        keep = math.exp(-max(0, now_ns - self.at_ns) / 1e9 / tau_s)
        return {b: c * keep for b, c in self.buckets.items() if c * keep >= 1e-3}

    def quantile(self, q: float) -> float:
        """The upper edge of the bucket where the `q` quantile falls."""
        total = sum(self.buckets.values())
        seen = 0.0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= q * total:
                return _edge(bucket)
        return 0.0


class ParameterState(msgspec.Struct):
    stats: dict[str, ParamStat] = {}  # "template_id#token.group" -> baseline
    streak: Streak = Streak()


class Reading(msgspec.Struct, frozen=True, gc=False):
    """One number read from one entry (a Struct: a batch builds hundreds of them)."""

    key: str
    entry_index: int
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class ParameterDetector:
    """One finding per batch, led by the number furthest above its usual range."""

    high_quantile: float = 0.99
    min_ratio: float = 4.0  # a value must exceed the high quantile this many times over
    single_window_cap: float = 0.55
    warmup_values: int = 30
    tau_s: float = 6 * 3600.0
    outlier_weight: float = 0.1  # outliers are learned a little: a recurring mode is normal
    identifier_floor: float = 1e5  # unitless slots with a median this high hold ids
    max_keys: int = 500
    sustain: Sustain = field(default_factory=Sustain)
    name = "parameters"
    state_type = ParameterState

    def initial_state(self) -> ParameterState:
        return ParameterState()

    def detect(
        self, mined: MinedBatch, state: ParameterState
    ) -> tuple[list[Finding], ParameterState]:
        stats = inherit_slots(state.stats, mined.ancestors)
        readings = read_numbers(mined)
        # Each slot's high quantile is worked out once a batch, not once per value read.
        highs = {key: self._log_high(stats.get(key)) for key in {r.key for r in readings}}
        excesses = self._excesses(highs, readings)  # aligned with `readings`
        outliers = [r for r, x in zip(readings, excesses, strict=True) if x]
        streak = state.streak.advance(bool(outliers))
        findings = []
        if outliers:
            excess = {(r.key, r.entry_index): x for r, x in zip(readings, excesses, strict=True)
                      if x}
            findings.append(self._finding(mined, stats, outliers, excess, streak))
        learned = self._learn(stats, readings, excesses, mined.batch.end_ns)
        return findings, ParameterState(learned, streak)

    def _log_high(self, stat: ParamStat | None) -> float | None:
        """log1p of the slot's high quantile; None while the slot warms up, or when it
        holds identifiers rather than amounts (no value of it is an outlier then)."""
        if stat is None or stat.n < self.warmup_values:
            return None
        if not stat.unit and stat.quantile(0.5) >= self.identifier_floor:
            return None
        return math.log1p(stat.quantile(self.high_quantile))

    def _excesses(self, log_highs: dict[str, float | None], readings: list[Reading]
                  ) -> list[float]:
        """Per reading, log(value / high quantile) when the value is an outlier, else 0.
        One loop rather than a call per reading: a wide line holds dozens of numbers."""
        floor, log1p = math.log(self.min_ratio), math.log1p
        found = []
        for reading in readings:
            log_high, value = log_highs[reading.key], reading.value
            if log_high is None or value <= 0:
                found.append(0.0)
                continue
            excess = log1p(value) - log_high
            found.append(excess if excess >= floor else 0.0)
        return found

    def _finding(
        self,
        mined: MinedBatch,
        stats: dict[str, ParamStat],
        outliers: list[Reading],
        excess: dict[tuple[str, int], float],
        streak: Streak,
    ) -> Finding:
        lead = max(outliers, key=lambda r: (excess[r.key, r.entry_index], r.key))
        same = [r for r in outliers if r.key == lead.key]
        stat = stats[lead.key]
        template_id, slot = lead.key.split("#", 1)
        high, median = stat.quantile(self.high_quantile), stat.quantile(0.5)
        limit = math.log(self.min_ratio)
        weight = {1: 0.7, 2: 0.85}.get(len(same), 1.0)  # one odd value is weak evidence
        raw = ramp(excess[lead.key, lead.entry_index], limit, limit + math.log(25.0)) * weight
        score = self.sustain.score(raw, streak.windows)
        if streak.windows <= 1:
            # Slow first requests, a cold cache: one minute of odd values is common in
            # healthy services. It alerts once it lasts into a second window.
            score = min(score, self.single_window_cap)
        return Finding(
            detector=self.name,
            anomaly_type="parameter_outlier",
            score=score,
            summary=(
                f'A number in "{clip(mined.templates.get(template_id, "?"))}" (token '
                f"{int(slot.split('.')[0]) + 1}) reached {show_number(lead.value, stat.unit)} in "
                f"{len(same)} entries; {self.high_quantile:.0%} of its values stay under "
                f"{show_number(high, stat.unit)} (median about {show_number(median, stat.unit)})."
            ),
            evidence=Evidence(
                entry_ids=entry_ids(mined.entries[r.entry_index] for r in same),
                template_ids=(template_id,),
                numbers={
                    "value": lead.value,
                    "high_quantile": high,
                    "median": median,
                    "entries": len(same),
                    "other_outliers": len(outliers) - len(same),
                    "streak": streak.windows,
                },
            ),
        )

    def _learn(
        self,
        stats: dict[str, ParamStat],
        readings: list[Reading],
        excesses: list[float],
        now: int,
    ) -> dict[str, ParamStat]:
        added: dict[str, dict[int, float]] = {}
        units: dict[str, str] = {}
        seen: dict[str, int] = {}  # plain dicts: a Counter's lookups cost more, per reading
        outlier_weight, log1p = self.outlier_weight, math.log1p
        for r, excess in zip(readings, excesses, strict=True):
            value = r.value
            if value < 0:
                continue
            key = r.key
            counts = added.get(key)
            if counts is None:
                counts = added[key] = {}
                units[key], seen[key] = r.unit, 0
            seen[key] += 1
            bucket = int(log1p(value) * BUCKETS_PER_E)  # see `_edge`, its upper edge
            counts[bucket] = counts.get(bucket, 0.0) + (outlier_weight if excess else 1.0)
        grown = dict(stats)
        for key, counts in added.items():
            old = grown.get(key)
            buckets = old.aged(now, self.tau_s) if old else {}
            for bucket, count in counts.items():
                buckets[bucket] = buckets.get(bucket, 0.0) + count
            n = (old.n if old else 0) + seen[key]
            grown[key] = ParamStat(dict(sorted(buckets.items())), n, now, units[key])
        if len(grown) > self.max_keys:
            keep = sorted(grown, key=lambda k: (grown[k].at_ns, k))[-self.max_keys :]
            grown = {k: grown[k] for k in keep}
        return grown


_last_read: tuple[MinedBatch, tuple[Reading, ...]] | None = None


def read_numbers(mined: MinedBatch) -> list[Reading]:
    """Every number a placeholder of its entry's template holds, in entry order.

    Two detectors read the same batch's numbers; the last batch's readings are kept
    (keyed by the very batch, which is frozen) so they are read once.
    """
    global _last_read
    last = _last_read
    if last is not None and last[0] is mined:
        return list(last[1])
    readings = _read_numbers(mined)
    _last_read = (mined, tuple(readings))
    return readings


def _read_numbers(mined: MinedBatch) -> list[Reading]:
    readings = []
    for index, (entry, template_id) in enumerate(
        zip(mined.entries, mined.template_ids, strict=True)
    ):
        template = mined.templates.get(template_id, "")
        for key, value, unit in _numbers_in(template_id, template, entry.message):
            readings.append(Reading(key, index, value, unit))
    return readings


# Pure, so kept for lines met again: a busy service repeats many of its lines exactly.
# Bounded by size too: a line of fifty numbers holds fifty readings.
_NUMBERS_SEEN = BoundedLru[tuple[str, str], tuple[Number, ...]](16_384, 4 * 2**20)
_NUMBER_SIZE = 100  # bytes a kept reading takes, about: its tuple and its float


def _numbers_in(template_id: str, template: str, message: str) -> tuple[Number, ...]:
    """(slot key, value, unit) of each number the template's placeholders hold in it."""
    key = (template_id, message)
    found = _NUMBERS_SEEN.get(key)
    if found is None:
        found = _read_slots(template_id, template, message)
        _NUMBERS_SEEN.put(key, found, len(message) + _NUMBER_SIZE * len(found))
    return found


def _read_slots(template_id: str, template: str, message: str) -> tuple[Number, ...]:
    width, slots = _pattern(template)
    if not slots:
        return ()
    tokens = _tokens(message, template, width)
    if tokens is None:
        return ()
    found = []
    for (position, regex, unit), keys in zip(slots, _slot_keys(template_id, template),
                                             strict=True):
        if regex is None:
            texts: Sequence[str] = (tokens[position],)
        elif (match := regex.fullmatch(tokens[position])) is not None:
            texts = match.groups()
        else:
            continue
        for key, text in zip(keys, texts, strict=True):
            number = _number(text, unit)
            if number is not None:
                found.append((key, number[0], number[1]))
    return tuple(found)


@lru_cache(maxsize=4096)
def _slot_keys(template_id: str, template: str) -> tuple[tuple[str, ...], ...]:
    """Per slot of the template, the key of each of its regex's groups: made once, and
    shared by every reading of them."""
    _, slots = _pattern(template)
    return tuple(tuple(f"{template_id}#{position}.{group}"
                       for group in range(1 if regex is None else regex.groups))
                 for position, regex, _ in slots)


def _tokens(message: str, template: str, width: int) -> list[str] | None:
    """The message's tokens, aligned with the template's; None when they do not align."""
    tokens = message.split()
    if len(tokens) != width and "<DURATION>" in template:
        tokens = _SPACED_DURATION.sub(r"\1", message).split()
    return tokens if len(tokens) == width else None


@lru_cache(maxsize=4096)
def _pattern(template: str) -> Pattern:
    found = []
    tokens = template.split()
    for position, token in enumerate(tokens):
        parts = _PLACEHOLDER.split(token)
        if len(parts) > 1:
            after = tokens[position + 1].lower().rstrip(",;.") if position + 1 < len(tokens) else ""
            unit = after if after and after in _UNITS and parts[-1] == "" else ""
            # `(.*?)` alone fully matches any token (split() leaves no newline in one).
            bare = parts == ["", ""]
            regex = None if bare else re.compile("(.*?)".join(re.escape(p) for p in parts))
            found.append((position, regex, unit))
    return len(tokens), tuple(found)


def _number(text: str, written_after: str = "") -> tuple[float, str] | None:
    if text.isdecimal() and len(text) <= 12:  # digits alone (most of what is read): no regex
        unit = _UNITS.get(written_after.lower())
        return None if unit is None else (float(text) * unit[1], unit[0])
    match = _NUMBER.match(text)
    unit = _UNITS.get((match[2] or written_after).lower()) if match else None
    if match is None or unit is None:
        return None
    return float(match[1]) * unit[1], unit[0]


def _edge(bucket: int) -> float:
    return math.expm1((bucket + 1) / BUCKETS_PER_E)
