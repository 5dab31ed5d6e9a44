"""The detector contract (DESIGN.md): batch and state in, findings and new state out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol, TypeVar

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


_severity = attrgetter("severity")


def severity_counts(entries: Iterable[LogEntry]) -> Counter[Severity]:
    """How many entries hold each severity: counted in C, so a detector sums over the few
    severities rather than over the entries."""
    return Counter(map(_severity, entries))
