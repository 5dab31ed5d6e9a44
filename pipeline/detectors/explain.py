"""Wording helpers: which labels stand out in anomalous entries, quoting, evidence.

Baseline counts are `{field: {value: count}}`, bounded, kept in a detector's state and
grown with `count_fields` from normal windows only. The field `TOTAL` holds the number
of entries counted, so shares are over all entries, with or without the field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from operator import attrgetter

from pipeline.detectors.base import MinedBatch
from pipeline.entry import LogEntry

FieldCounts = dict[str, dict[str, int]]

TOTAL = ""
OTHER = "\x00other"  # the counts of values pushed out of a full field
PAYLOAD_FIELDS = ("userAgent", "user_agent", "logger", "component", "caller", "method")
_PAYLOAD_FIELD_SET = frozenset(PAYLOAD_FIELDS)
SKIPPED_LABELS = frozenset({"project_id"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def clip(text: str, limit: int = 120) -> str:
    """One printable line of at most `limit` characters."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fields_of(entry: LogEntry) -> Iterator[tuple[str, str]]:
    """The label and payload values an explanation may name."""
    for key, value in _raw_fields(entry):
        yield key, _shown(value)


def _raw_fields(entry: LogEntry) -> Iterator[tuple[str, object]]:
    """`fields_of` before each value is made printable (`_shown`)."""
    yield from _label_fields(entry)
    if isinstance(entry.payload, dict):
        yield from _payload_fields(entry.payload)


def _label_fields(entry: LogEntry) -> Iterator[tuple[str, object]]:
    for key, value in entry.resource_labels.items():
        if key not in SKIPPED_LABELS and value:
            yield key, value
    for key, value in entry.labels.items():
        if value:
            yield key, value


def _payload_fields(payload: dict[str, object]) -> Iterator[tuple[str, str]]:
    for key in PAYLOAD_FIELDS:
        found = payload.get(key)
        if isinstance(found, str) and found:
            yield key, found


def _shown(value: object) -> str:
    return clip(str(value), 80)


def count_fields(
    counts: Mapping[str, Mapping[str, int]],
    entries: Iterable[LogEntry],
    *,
    max_fields: int = 24,
    max_values: int = 24,
    max_total: int = 20_000,
) -> FieldCounts:
    """`counts` (as this function returned them) with `entries` added; bounded in fields,
    values per field and total.

    Past `max_total` entries every count is halved, so the baseline follows recent
    behaviour; values past `max_values` are folded into `OTHER`.
    """
    grown: dict[str, Mapping[str, int]] = dict(counts)
    added: dict[str, Counter[str]] = {}  # the fields these entries add to
    total, pairs = field_pairs(entries)
    if total:
        _adding(grown, added, TOTAL)[TOTAL] += total
    # A field's fate is decided where it first appears, so adding each distinct pair's
    # count in first-seen order bounds the fields exactly as entry by entry would.
    for (key, value), count in pairs.items():
        if key in grown or len(grown) <= max_fields:
            _adding(grown, added, key)[value] += count
    if grown.get(TOTAL, {}).get(TOTAL, 0) > max_total:
        halved = {f: Counter({v: c // 2 for v, c in vs.items() if c > 1})
                  for f, vs in grown.items()}
        return {f: _bounded(vs, max_values) for f, vs in halved.items() if vs}
    # A field nothing was added to stays as it was bounded before: copied, not ranked again.
    return {f: _bounded(added[f], max_values) if f in added else dict(vs)
            for f, vs in grown.items() if vs}


def _adding(grown: dict[str, Mapping[str, int]], added: dict[str, Counter[str]],
            field: str) -> Counter[str]:
    """The counts of `field` to add to: its counts so far, copied the first time."""
    values = added.get(field)
    if values is None:
        values = added[field] = Counter(grown.get(field, {}))
        grown[field] = values
    return values


_last_counted: tuple[object, int, dict[tuple[str, str], int]] | None = None


def field_pairs(entries: Iterable[LogEntry]) -> tuple[int, dict[tuple[str, str], int]]:
    """The number of entries and each (field, value)'s count, in first-seen order (the
    values as `fields_of` gives them).

    Several detectors count the same batch's fields, and the change tracker reads their
    names; the last batch's counts are kept (keyed by the very tuple of entries, which
    batches never change) so that is done once.
    """
    global _last_counted
    last = _last_counted
    if last is not None and last[0] is entries:
        return last[1], last[2]
    kept = entries if isinstance(entries, tuple) else None
    entries = tuple(entries)  # read more than once below
    total, raw = len(entries), _raw_counts(entries)
    # Each distinct value is made printable once, not once an entry; values that print
    # alike add up, still in the order they were first seen.
    pairs = dict[tuple[str, str], int]()
    for (key, value), count in raw.items():
        pair = (key, _shown(value))
        pairs[pair] = pairs.get(pair, 0) + count
    if kept is not None:
        _last_counted = (kept, total, pairs)
    return total, pairs


def _raw_counts(entries: tuple[LogEntry, ...]) -> dict[tuple[str, object], int]:
    """Each (field, raw value)'s count over `entries`, in first-seen order."""
    if any(map(_labels, entries)) or any(map(_payload, entries)):
        return _counted_in_runs(entries)
    # Resource labels only (no entry labels, no structured payload), as in most batches
    # of text logs. A stream's entries mostly repeat the labels of the entry before them:
    # a run of equal label maps is found by comparing them in C, and its pairs are counted
    # once, times its length (a run's later entries hold no pair its first lacks, so the
    # pairs are first seen in the order entry by entry would see them).
    raw: dict[tuple[str, object], int] = {}
    for labels, run in groupby(map(_resource_labels, entries)):
        times = len(list(run))
        for key, value in labels.items():
            if key not in SKIPPED_LABELS and value:
                raw[key, value] = raw.get((key, value), 0) + times
    return raw


def _counted_in_runs(entries: tuple[LogEntry, ...]) -> dict[tuple[str, object], int]:
    """`_raw_counts` for entries with labels or a payload, as counting each entry's
    `_raw_fields` in turn would. Entries of a stream mostly repeat the labels of the entry
    before them: comparing two label maps costs a fraction of counting their pairs (a pair
    is hashed to be counted), so the labels of a run of such entries are counted once,
    times the run's length. Those of the run's first entry lead the entries' payload
    fields, which are counted entry by entry, so every pair is first seen where the loop
    would see it."""
    raw: dict[tuple[str, object], int] = {}
    run_start = 0
    run: list[tuple[str, object]] = []  # the run's label pairs
    payloads: list[tuple[str, object]] = []  # its entries' payload pairs, in order
    previous: LogEntry | None = None
    for index, entry in enumerate(entries):
        if (previous is None or entry.resource_labels != previous.resource_labels
                or entry.labels != previous.labels):
            _add_run(raw, run, index - run_start, payloads)
            run_start, run, payloads = index, list(_label_fields(entry)), []
        payload = entry.payload
        if isinstance(payload, dict) and not payload.keys().isdisjoint(_PAYLOAD_FIELD_SET):
            payloads.extend(_payload_fields(payload))
        previous = entry
    _add_run(raw, run, len(entries) - run_start, payloads)
    return raw


def _add_run(raw: dict[tuple[str, object], int], run: list[tuple[str, object]], times: int,
             payloads: list[tuple[str, object]]) -> None:
    """A run's label pairs, once per entry of it, then its entries' payload pairs."""
    for pair in run:
        raw[pair] = raw.get(pair, 0) + times
    for pair in payloads:
        raw[pair] = raw.get(pair, 0) + 1


_labels = attrgetter("labels")
_payload = attrgetter("payload")
_resource_labels = attrgetter("resource_labels")


def _bounded(values: Counter[str], limit: int) -> dict[str, int]:
    ranked = sorted(values.items(), key=lambda kv: (kv[0] == OTHER, -kv[1], kv[0]))
    kept = dict(kv for kv in ranked if kv[0] != OTHER)
    if len(kept) <= limit:
        return {**kept, **({OTHER: values[OTHER]} if values.get(OTHER) else {})}
    head = dict(list(kept.items())[:limit])
    return {**head, OTHER: sum(values.values()) - sum(head.values())}


def overrepresented(
    anomalous: Sequence[LogEntry],
    baseline_counts: Mapping[str, Mapping[str, int]],
    *,
    min_share: float = 0.5,
    min_lift: float = 2.0,
    min_count: int = 5,
    min_baseline: int = 50,
    limit: int = 2,
) -> list[str]:
    """Field values far commoner in `anomalous` than in the baseline, strongest first.

    Each is worded like "pod_name=web-7f9 (92% vs 10% usually)". Nothing is named when
    the baseline has fewer than `min_baseline` entries.
    """
    base_total = baseline_counts.get(TOTAL, {}).get(TOTAL, 0)
    if len(anomalous) < min_count or base_total < min_baseline:
        return []
    now: dict[str, dict[str, int]] = {}
    for (key, value), count in field_pairs(anomalous)[1].items():
        now.setdefault(key, {})[value] = count
    ranked = []
    for key, values in now.items():
        value, count = min(values.items(), key=lambda kv: (-kv[1], kv[0]))
        share = count / len(anomalous)
        usual = baseline_counts.get(key, {}).get(value, 0) / base_total
        if count >= min_count and share >= min_share and share >= min_lift * usual:
            text = f"{key}={value} ({share:.0%} vs {usual:.0%} usually)"
            ranked.append((usual - share, key, text))
    return [text for *_, text in sorted(ranked)[:limit]]


def sentence(parts: Sequence[str]) -> str:
    """The clause a detector appends to its summary; empty when nothing stands out."""
    return f" Mostly from {' and '.join(parts)}." if parts else ""


def top_templates(mined: MinedBatch, indexes: Iterable[int], limit: int = 5) -> tuple[str, ...]:
    """The commonest template ids among the entries at `indexes`."""
    counts = Counter(mined.template_ids[i] for i in indexes)
    return tuple(t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def entry_ids(entries: Iterable[LogEntry], limit: int = 20) -> tuple[str, ...]:
    return tuple(e.insert_id for _, e in zip(range(limit), entries, strict=False))


def amount(value: float) -> str:
    """A rate or count for a sentence: 0.29, 4.2, 47, 1,250; never a bare 0 for 0.3."""
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"


def show_number(value: float, unit: str) -> str:
    """A measured value for a sentence, with its unit: 1,250 ms, 3.42 s, 0.5."""
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{text} {unit}" if unit else text
