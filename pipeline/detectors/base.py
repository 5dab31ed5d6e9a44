"""The detector contract (DESIGN.md): batch and state in, findings and new state out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol, TypeVar, cast

from pipeline.batch import Batch
from pipeline.entry import LogEntry, Severity
from pipeline.findings import Finding


@dataclass(frozen=True, slots=True)
class MinedBatch:
    """A batch with each entry's template id (same order as `batch.entries`)."""

    batch: Batch
    template_ids: tuple[str, ...]
    templates: dict[str, str]  # template id -> template text, for the ids in this batch
    # template id -> the ids it replaced when its template was generalized
    ancestors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # when this stream last showed a deploy or config change (None: none recently)
    last_change_ns: int | None = None

    @property
    def entries(self) -> tuple[LogEntry, ...]:
        return self.batch.entries


S = TypeVar("S")
H = TypeVar("H", bound=Hashable)
T = TypeVar("T")


class Detector(Protocol[S]):
    """A pure detector: no network, database, clock or environment inside.

    `state_type` is a msgspec-encodable type (a msgspec Struct or dataclass); the
    runner loads it per (detector, stream) before `detect` and saves what it returns.
    """

    @property
    def name(self) -> str:
        """Names the detector in findings, metrics and its state's key."""
        ...

    @property
    def state_type(self) -> type[S]:
        """The msgspec-encodable type of its per-stream state."""
        ...

    def initial_state(self) -> S:
        """The state of a stream this detector has never seen."""
        ...

    def detect(self, mined: MinedBatch, state: S) -> tuple[list[Finding], S]:
        """Findings for this batch and the state to keep; never raises on odd input."""
        ...


AnyDetector = Detector[Any]


def inherit_slots(
    stats: dict[str, S], ancestors: dict[str, tuple[str, ...]]
) -> dict[str, S]:
    """Per-slot state (keys `<template id>#<slot>`) moved to the template that replaced
    its template: Drain keeps the token count, so token positions still line up. Returns
    `stats` itself when nothing was generalized."""
    if not any(ancestors.values()):
        return stats
    # Keys by their template, once: a template that absorbed hundreds has as many
    # ancestors, each looked up, not each compared with every key.
    keys_of: dict[str, list[str]] = {}
    for key in stats:
        keys_of.setdefault(key.partition("#")[0], []).append(key)
    grown = dict(stats)
    for template_id, olds in ancestors.items():
        for old in olds:
            for key in keys_of.get(old, ()):
                moved = grown.pop(key, None)
                if moved is not None:
                    grown.setdefault(f"{template_id}{key[len(old) :]}", moved)
    return grown


# What `once_a_batch` made last, by name: the batch it was made of, and the value.
_made: dict[str, tuple[MinedBatch, Any]] = {}


def once_a_batch(name: str, mined: MinedBatch, make: Callable[[MinedBatch], T]) -> T:
    """`make(mined)`, made once for the several detectors that read it: the last batch's
    is kept (keyed by the very batch, which is frozen). Not to be changed by a reader."""
    last = _made.get(name)
    if last is None or last[0] is not mined:
        last = _made[name] = (mined, make(mined))
    return cast(T, last[1])


def messages(mined: MinedBatch) -> tuple[str, ...]:
    """Each entry's message, in entry order."""
    return once_a_batch("messages", mined, _messages)


def template_counts(mined: MinedBatch) -> Mapping[str, int]:
    """Each template's lines in the batch, in the order of its first line."""
    return once_a_batch("template_counts", mined, _template_counts)


def severity_counts(mined: MinedBatch) -> Mapping[Severity, int]:
    """How many entries hold each severity: counted in C, so a detector sums over the few
    severities rather than over the entries."""
    return once_a_batch("severity_counts", mined, _severity_counts)


def _messages(mined: MinedBatch) -> tuple[str, ...]:
    return tuple(map(_message, mined.entries))


def _template_counts(mined: MinedBatch) -> Counter[str]:
    return Counter(mined.template_ids)


def _severity_counts(mined: MinedBatch) -> dict[Severity, int]:
    return tally(list(map(_severity, mined.entries)))


_severity = attrgetter("severity")
_message = attrgetter("message")


# Distinct values up to which `tally` counts each with `list.count`: past it, a pass per
# distinct value costs more than a Counter's one pass.
TALLY_BY_COUNT = 16


def tally(values: Sequence[H]) -> dict[H, int]:
    """How many times each value occurs (in no particular order). The few distinct values
    of a batch's severities or of a slot's buckets are each counted in C with `count`,
    several times as fast as a Counter, whose set-up in Python outweighs a short list."""
    distinct = set(values)
    if len(distinct) > TALLY_BY_COUNT:
        return dict(Counter(values))
    return {value: values.count(value) for value in distinct}
