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
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import compress, repeat
from operator import is_not, itemgetter, mul
from typing import cast

import msgspec

from pipeline.detectors.base import (
    MinedBatch,
    inherit_slots,
    messages,
    once_a_batch,
    tally,
    template_counts,
)
from pipeline.detectors.explain import clip, entry_ids, show_number
from pipeline.detectors.sustain import Streak, Sustain, ramp
from pipeline.findings import Evidence, Finding

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
        slots = read_slots(mined)
        # Per slot with an outlier, each value's excess (0: not an outlier). Only a slot
        # with a baseline can hold one, and its high quantile is worked out once a batch.
        excesses: dict[str, list[float]] = {}
        for slot in slots:
            log_high = self._log_high(stats.get(slot.key))
            if log_high is not None and any(found := self._excesses(log_high, slot.values)):
                excesses[slot.key] = found
        streak = state.streak.advance(bool(excesses))
        findings = []
        if excesses:
            findings.append(self._finding(mined, stats, slots, excesses, streak))
        learned = self._learn(stats, slots, excesses, mined.batch.end_ns)
        return findings, ParameterState(learned, streak)

    def _log_high(self, stat: ParamStat | None) -> float | None:
        """log1p of the slot's high quantile; None while the slot warms up, or when it
        holds identifiers rather than amounts (no value of it is an outlier then)."""
        if stat is None or stat.n < self.warmup_values:
            return None
        if not stat.unit and stat.quantile(0.5) >= self.identifier_floor:
            return None
        return math.log1p(stat.quantile(self.high_quantile))

    def _excesses(self, log_high: float, values: tuple[float, ...]) -> list[float]:
        """Per value, log(value / high quantile) when the value is an outlier, else 0;
        none when no value is one."""
        floor, log1p = math.log(self.min_ratio), math.log1p
        top = max(values)
        # Most slots: the largest value (log1p rises with it) falls short by more than any
        # rounding, so every value does.
        if top <= 0 or log1p(top) - log_high < floor - 1e-9:
            return []
        found = []
        for value in values:
            excess = log1p(value) - log_high if value > 0 else 0.0
            found.append(excess if excess >= floor else 0.0)
        return found

    def _finding(
        self,
        mined: MinedBatch,
        stats: dict[str, ParamStat],
        slots: tuple[SlotReadings, ...],
        excesses: dict[str, list[float]],
        streak: Streak,
    ) -> Finding:
        # The largest excess leads (ties: the greater key, then the first entry).
        best = {key: max(found) for key, found in excesses.items()}
        lead_key = max(best, key=lambda key: (best[key], key))
        lead = next(slot for slot in slots if slot.key == lead_key)
        found = excesses[lead_key]
        same = [index for index, excess in zip(lead.indexes, found, strict=True) if excess]
        value = lead.values[found.index(best[lead_key])]
        outliers = sum(1 for found in excesses.values() for excess in found if excess)
        stat = stats[lead_key]
        template_id, slot = lead_key.split("#", 1)
        high, median = stat.quantile(self.high_quantile), stat.quantile(0.5)
        limit = math.log(self.min_ratio)
        weight = {1: 0.7, 2: 0.85}.get(len(same), 1.0)  # one odd value is weak evidence
        raw = ramp(best[lead_key], limit, limit + math.log(25.0)) * weight
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
                f"{int(slot.split('.')[0]) + 1}) reached {show_number(value, stat.unit)} in "
                f"{len(same)} entries; {self.high_quantile:.0%} of its values stay under "
                f"{show_number(high, stat.unit)} (median about {show_number(median, stat.unit)})."
            ),
            evidence=Evidence(
                entry_ids=entry_ids(mined.entries[index] for index in same),
                template_ids=(template_id,),
                numbers={
                    "value": value,
                    "high_quantile": high,
                    "median": median,
                    "entries": len(same),
                    "other_outliers": outliers - len(same),
                    "streak": streak.windows,
                },
            ),
        )

    def _learn(
        self,
        stats: dict[str, ParamStat],
        slots: tuple[SlotReadings, ...],
        excesses: dict[str, list[float]],
        now: int,
    ) -> dict[str, ParamStat]:
        # A slot learns from its values of zero or more; only the `max_keys` slots seen
        # last are kept, so the histograms of the slots dropped are not built at all.
        fed = {slot.key: slot for slot in _by_first_learned(slots)}
        if len(stats) + len(fed) > self.max_keys:
            stamps = {key: stat.at_ns for key, stat in stats.items()} | dict.fromkeys(fed, now)
            if len(stamps) > self.max_keys:
                keep = sorted(stamps, key=lambda k: (stamps[k], k))[-self.max_keys :]
                grown = {k: self._learned(stats.get(k), fed[k], excesses, now) if k in fed
                         else stats[k] for k in keep}
                return grown
        grown = dict(stats)
        for key, slot in fed.items():
            grown[key] = self._learned(stats.get(key), slot, excesses, now)
        return grown

    def _learned(self, old: ParamStat | None, slot: SlotReadings,
                 excesses: dict[str, list[float]], now: int) -> ParamStat:
        """The slot's histogram with this batch's values added (an outlier counts little)."""
        buckets = old.aged(now, self.tau_s) if old else {}
        counts: Mapping[int, float]
        unit: str | None
        found = excesses.get(slot.key)
        if found is None and min(slot.values) >= 0:  # most slots: every value counts 1
            # Counted in C; a count of whole values adds to a bucket as its 1.0s summed do.
            counts = tally(list(map(int, map(_TO_BUCKET, map(math.log1p, slot.values)))))
            seen, unit = len(slot.values), slot.units[0]
        else:
            counts, seen, unit = self._weighed(slot, found)
        for bucket, count in counts.items():
            buckets[bucket] = buckets.get(bucket, 0.0) + count
        n = (old.n if old else 0) + seen
        return ParamStat(dict(sorted(buckets.items())), n, now, unit or "")

    def _weighed(self, slot: SlotReadings, found: list[float] | None
                 ) -> tuple[dict[int, float], int, str | None]:
        """Per bucket, the weight of the slot's values of zero or more in it (an outlier's
        is `outlier_weight`); how many there are, and the unit of the first."""
        outlier_weight, log1p = self.outlier_weight, math.log1p
        counts: dict[int, float] = {}
        seen, unit = 0, None
        excesses = found or [0.0] * len(slot.values)
        for value, excess, value_unit in zip(slot.values, excesses, slot.units, strict=True):
            if value < 0:
                continue
            seen += 1
            unit = value_unit if unit is None else unit
            bucket = int(log1p(value) * BUCKETS_PER_E)  # see `_edge`, its upper edge
            counts[bucket] = counts.get(bucket, 0.0) + (outlier_weight if excess else 1.0)
        return counts, seen, unit


# A value's bucket before rounding down: log1p(value) times BUCKETS_PER_E (see `_edge`).
_TO_BUCKET = partial(mul, BUCKETS_PER_E)


class SlotReadings(msgspec.Struct, frozen=True, gc=False):
    """The numbers one slot held in one batch, in entry order (a slot's values together:
    a wide line holds dozens of numbers, a batch tens of thousands)."""

    key: str  # "template_id#token.group"
    template_id: str
    position: int  # the token
    group: int  # the placeholder within the token
    indexes: tuple[int, ...]  # the entries read
    values: tuple[float, ...]
    units: tuple[str, ...]  # per value; all alike unless a value wrote its own unit


# One line's numbers, one per group of its template's placeholders (None: not a number
# there), and their units (None: each group's unit as the template writes it).
Row = tuple[tuple[float | None, ...], tuple[str, ...] | None]
_NO_ROW: Row = ((), None)  # the line does not line up with its template

def _by_first_learned(slots: tuple[SlotReadings, ...]) -> list[SlotReadings]:
    """The slots holding a value of zero or more, in the order of the first such value."""
    if all(min(slot.values) >= 0 for slot in slots):
        return list(slots)
    fed = [slot for slot in slots if max(slot.values) >= 0]
    return sorted(fed, key=lambda slot: (
        next(i for i, v in zip(slot.indexes, slot.values, strict=True) if v >= 0),
        slot.position, slot.group))


def read_slots(mined: MinedBatch) -> tuple[SlotReadings, ...]:
    """Per slot that holds a number in the batch, its values, slots in the order of their
    first value read (entry order, then token order).

    Two detectors read the same batch's numbers: they are read once a batch.
    """
    return once_a_batch("slots", mined, _read_batch)


def _read_batch(mined: MinedBatch) -> tuple[SlotReadings, ...]:
    template_ids = mined.template_ids
    texts = messages(mined)
    cached = _NUMBERS_SEEN.rows(template_ids, texts)  # the lines met lately, looked up in C
    if None in cached:
        _read_missing(mined, texts, cached)
    rows = cast(list[Row], cached)  # every line read now
    # The lines that hold numbers, grouped by template (in the order of their first such
    # line): a template's slots are then columns of its rows.
    lines: dict[str, list[int]] = {}
    for index in compress(range(len(rows)), map(_values, rows)):
        template_id = template_ids[index]
        if (indexes := lines.get(template_id)) is None:
            lines[template_id] = [index]
        else:
            indexes.append(index)
    slots: list[SlotReadings] = []
    uniform = True
    for template_id, indexes in lines.items():
        found = list(map(rows.__getitem__, indexes))
        own_units = _own_units(found)
        uniform &= not own_units
        slots += _columns(template_id, mined.templates.get(template_id, ""), indexes, found,
                          own_units)
    if not uniform:  # a slot first read after its template's first line (stable: token order)
        slots.sort(key=_first_index)
    return tuple(slots)


_values = itemgetter(0)
_units = itemgetter(1)


def _read_missing(mined: MinedBatch, lines: Sequence[str], rows: list[Row | None]) -> None:
    """Reads the lines `rows` lacks into it, and keeps them for when they are met again (a
    template with enough lines in the batch has them read by its line regex)."""
    busy = {t for t, count in template_counts(mined).items() if count >= WHOLE_LINE_AFTER}
    read: dict[tuple[str, str], Row] = {}  # a line met twice in the batch is read once
    for index, row in enumerate(rows):
        if row is None:
            key = template_id, message = mined.template_ids[index], lines[index]
            row = read.get(key)
            if row is None:
                template = mined.templates.get(template_id, "")
                row = read[key] = _read_row(template, message, template_id in busy)
                _NUMBERS_SEEN.put(template_id, message, row,
                                  len(message) + _NUMBER_SIZE * len(row[0]))
            rows[index] = row


def _own_units(found: list[Row]) -> bool:
    """Whether some row holds units of its own."""
    return any(map(is_not, map(_units, found), repeat(None)))


def _first_index(slot: SlotReadings) -> int:
    return slot.indexes[0]


def _columns(template_id: str, template: str, indexes: list[int], found: list[Row],
             own_units: bool) -> list[SlotReadings]:
    """The template's slots, as the columns of its rows (one transpose, in C). A row
    without units of its own (`own_units`: some row has) reads each value in the unit the
    template writes; a column keeps the lines where it holds a number."""
    columns = _columns_of(template_id, template)
    if own_units:
        per_row = list(map(_units, found))
        if None in per_row:
            written = tuple(unit for *_, unit in columns)
            per_row = [written if units is None else units for units in per_row]
        unit_columns: Iterable[tuple[str, ...]] = zip(*per_row, strict=True)
    else:
        unit_columns = (((unit,) * len(found)) for *_, unit in columns)
    shared = tuple(indexes)
    slots = []
    for (key, position, group, _), values, units in zip(
        columns, zip(*map(_values, found), strict=True), unit_columns, strict=True
    ):
        read = shared
        if None in values:  # some lines hold no number there
            if values.count(None) == len(values):  # most such slots: none does
                continue
            kept = list(map(is_not, values, repeat(None)))
            read = tuple(compress(shared, kept))
            values, units = tuple(compress(values, kept)), tuple(compress(units, kept))
        slots.append(SlotReadings(key, template_id, position, group, read, values, units))
    return slots


class LinesRead:
    """The rows of the lines read lately, kept by message with the template they were read
    against (a line is read again against another template). The first kept go first:
    unlike least recently used, a line met again costs one lookup in C, no order to keep."""

    __slots__ = ("_kept", "_size", "max_items", "max_size")

    def __init__(self, max_items: int, max_size: int) -> None:
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._size = 0
        self.max_items, self.max_size = max_items, max_size

    def clear(self) -> None:
        self._kept.clear()
        self._size = 0

    def rows(self, template_ids: Sequence[str], lines: Sequence[str]) -> list[Row | None]:
        """Per line, its row read against its template, None when not kept."""
        found = list(map(self._kept.get, lines, repeat(_NOT_KEPT)))
        if tuple(map(_kept_template, found)) != tuple(template_ids):  # some line not kept
            for index, template_id in enumerate(template_ids):
                if found[index][0] != template_id:
                    found[index] = _NOT_KEPT
        return list(map(_kept_row, found))

    def put(self, template_id: str, line: str, row: Row, size: int) -> None:
        """Keeps the line's row, dropping the first kept while over a bound (a row larger
        than `max_size` is not kept)."""
        if size > self.max_size or not self.max_items:
            return
        kept = self._kept
        if (previous := kept.pop(line, None)) is not None:
            self._size -= previous[2]
        while len(kept) >= self.max_items or self._size + size > self.max_size:
            self._size -= kept.popitem(last=False)[1][2]
        kept[line] = (template_id, row, size)
        self._size += size

    def __len__(self) -> int:
        return len(self._kept)


_Kept = tuple[str | None, Row | None, int]  # template id, row, size
_NOT_KEPT: _Kept = (None, None, 0)
_kept_template = itemgetter(0)
_kept_row = itemgetter(1)

# Pure, so kept for lines met again: a busy service repeats many of its lines exactly.
# Bounded by size too: a line of fifty numbers holds fifty readings.
_NUMBERS_SEEN = LinesRead(16_384, 4 * 2**20)
_NUMBER_SIZE = 100  # bytes a kept reading takes, about: its float and its place in a tuple


def _read_row(template: str, message: str, whole_line: bool) -> Row:
    """The numbers the template's placeholders hold in the message (none when no slot
    of it lines up with the message); `whole_line`: read with the template's line regex."""
    width, slots = _pattern(template)
    if not slots:
        return _NO_ROW
    tokens = _tokens(message, template, width)
    if tokens is None:
        return _NO_ROW
    # The line's placeholders in one match (a wide line holds dozens); when some token
    # does not fit its template's, token by token, as the slots that do fit are read.
    match = _line_pattern(template).fullmatch(message) if whole_line else None
    if match is None:
        return _read_tokens(template, tokens)
    texts: tuple[str, ...] = match.groups()
    _, scales, written_after = _group_units(template)
    # Digits alone (most of what is read), each in the unit the template writes after it.
    # Twelve digits at most: int() then float() reads them exactly, and in half the time.
    if "".join(texts).isdecimal() and all(texts) and len(max(texts, key=len)) <= 12:
        if scales is None:
            return tuple(map(float, map(int, texts))), None
        return tuple(float(int(text)) * scale
                     for text, scale in zip(texts, scales, strict=True)), None
    return _convert(texts, written_after)


def _read_tokens(template: str, tokens: list[str]) -> Row:
    texts: list[str | None] = []
    for position, regex, _ in _pattern(template)[1]:
        if regex is None:
            texts.append(tokens[position])
        elif (match := regex.fullmatch(tokens[position])) is not None:
            texts += match.groups()
        else:
            texts += [None] * regex.groups
    return _convert(texts, _group_units(template)[2])


def _convert(texts: Sequence[str | None], written_after: tuple[str, ...]) -> Row:
    values: list[float | None] = []
    units: list[str] = []
    for text, after in zip(texts, written_after, strict=True):
        number = None if text is None else _number(text, after)
        values.append(None if number is None else number[0])
        units.append("" if number is None else number[1])
    return tuple(values), tuple(units)


# Lines of one template a batch must hold before they are read with its line regex: a
# long template's regex (a stack trace's) costs as much to compile as reading hundreds of
# its lines token by token, and templates still being generalized change text often.
WHOLE_LINE_AFTER = 32


@lru_cache(maxsize=256)
def _line_pattern(template: str) -> re.Pattern[str]:
    """One regex for the whole line: a token of the template's per token, apart by
    whitespace as `str.split` cuts, its placeholders' groups in order. Within a token the
    groups read what the token's own regex reads."""
    parts = []
    for token in template.split():
        pieces = _PLACEHOLDER.split(token)
        if len(pieces) == 1:
            parts.append(r"\S+")
        elif pieces == ["", ""]:
            parts.append(r"(\S+)")
        elif len(pieces) == 2:  # one group, its ends fixed by the token's: greedy reads the same
            parts.append(r"(\S*)".join(re.escape(p) for p in pieces))
        else:
            parts.append(r"(?=\S)" + r"(\S*?)".join(re.escape(p) for p in pieces))
    return re.compile(r"\s*" + r"\s+".join(parts) + r"\s*")


@lru_cache(maxsize=4096)
def _group_units(template: str) -> tuple[tuple[str, ...], tuple[float, ...] | None,
                                         tuple[str, ...]]:
    """Per group of the template's placeholders: the unit its digits alone are read in,
    the factor to it (None: all 1) and the unit word the template writes after it."""
    written_after = tuple(after for _, _, after in _groups(template))
    units = tuple(_UNITS[after] for after in written_after)
    scales = tuple(scale for _, scale in units)
    return (tuple(unit for unit, _ in units), None if set(scales) <= {1.0} else scales,
            written_after)


@lru_cache(maxsize=4096)
def _columns_of(template_id: str, template: str) -> tuple[tuple[str, int, int, str], ...]:
    """Per group of the template's placeholders: its slot's key, token, group and the
    unit its digits alone are read in."""
    units = _group_units(template)[0]
    return tuple((f"{template_id}#{position}.{group}", position, group, unit)
                 for (position, group, _), unit in zip(_groups(template), units, strict=True))


@lru_cache(maxsize=4096)
def _groups(template: str) -> tuple[tuple[int, int, str], ...]:
    """Per group of the template's placeholders, in order: its token, its place among the
    token's groups, and the unit word the template writes after the token."""
    return tuple((position, group, after) for position, regex, after in _pattern(template)[1]
                 for group in range(1 if regex is None else regex.groups))


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
