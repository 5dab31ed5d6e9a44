"""Bounded metric labels: every label value is either from a closed set or a code-made name.

A label that took free text (a log message, a user, a URL) would make one time series per
distinct value and sink Prometheus. So each label is declared with the values it may take,
or, for names that the code or the rules file defines (detectors, anomaly types, dead-letter
reasons, channels, queues, tasks), with the shape such names have: lower case, no spaces,
at most 64 characters. A value outside that raises `InvalidLabelValue` at the call site,
which the tests of the caller catch long before production does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

# "rules/out-of-memory", "http/5xx", "logwarden.detect_batch", "invalid_json".
NAME_SHAPE = re.compile(r"[a-z0-9][a-z0-9_.-]*(?:/[a-z0-9][a-z0-9_.-]*)*")
MAX_NAME_LENGTH = 64
_UNNAMED = re.compile(r"[^a-z0-9_.-]+")

M = TypeVar("M", bound=MetricWrapperBase)


class InvalidLabelValue(ValueError):
    """A metric label was given a value it may not take (free text, or outside its set)."""


@dataclass(frozen=True, slots=True)
class Label:
    """One metric label: its name and its closed set of values (empty: a code-made name)."""

    name: str
    values: tuple[str, ...] = ()

    def check(self, value: str) -> str:
        """Returns `value` when this label may take it; raises `InvalidLabelValue` otherwise."""
        if self.values:
            if value in self.values:
                return value
            raise InvalidLabelValue(f"label {self.name}={value!r} is not one of {self.values}")
        if len(value) <= MAX_NAME_LENGTH and NAME_SHAPE.fullmatch(value):
            return value
        raise InvalidLabelValue(
            f"label {self.name}={value[:80]!r} is not a name (lower case, no spaces, "
            f"at most {MAX_NAME_LENGTH} characters): free text never goes into a label"
        )


class ServiceNames:
    """Service names (from the logs Logwarden watches) made fit to be label values.

    A service name is outside our code, so it is shaped into a name (lower case, other
    characters as "_", at most 64 characters) and at most `limit` distinct ones are kept
    per process: later newcomers all show as "other", so a misconfigured sink cannot
    make a series per stray value.
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        # Each service's value as given before: a name keeps its value once given one.
        # Bounded, as stray names may be many: past the bound, newcomers are shaped anew.
        self._given: dict[str, str] = {}

    def __call__(self, service: str) -> str:
        name = self._given.get(service)
        if name is None:
            name = self._value(service)
            if len(self._given) < 4 * self.limit:
                self._given[service] = name
        return name

    def _value(self, service: str) -> str:
        name = _UNNAMED.sub("_", service.lower()).strip("_.-")[:MAX_NAME_LENGTH] or "unknown"
        if name in self._seen:
            return name
        if len(self._seen) >= self.limit:
            return "other"
        self._seen.add(name)
        return name


class Labelled(Generic[M]):
    """A labelled metric whose `labels()` accepts only the values its labels declare."""

    def __init__(self, metric: M, labels: Sequence[Label]) -> None:
        self.metric = metric
        self.declared = tuple(labels)
        self._names = frozenset(label.name for label in labels)
        # The children asked for, by their values as given: one entry per series the
        # metric holds anyway (values are checked first), found without checking again.
        self._children: dict[tuple[tuple[str, str], ...], M] = {}
        if not labels:
            raise ValueError(f"{metric} has no labels: use it without Labelled")
        if all(label.values for label in labels):
            # Closed sets: every series exists from the start at zero, so rate() and
            # "absent" alerts see it before the first event.
            for combination in itertools.product(*(label.values for label in labels)):
                metric.labels(*combination)

    def labels(self, **values: str) -> M:
        """The child metric for these label values; raises `InvalidLabelValue` on a bad one."""
        key = tuple(values.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._checked_child(values)
        return child

    def _checked_child(self, values: dict[str, str]) -> M:
        if values.keys() != self._names:
            raise InvalidLabelValue(f"expected labels {sorted(self._names)}, got {sorted(values)}")
        checked = {label.name: label.check(values[label.name]) for label in self.declared}
        return self.metric.labels(**checked)
