"""The per-batch helpers detectors share: counts and messages, made once a batch."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pipeline.detectors.base import (
    TALLY_BY_COUNT,
    messages,
    severity_counts,
    tally,
    template_counts,
)
from pipeline.entry import Severity
from tests.pipeline.detectors.factory import entry, mined


@pytest.mark.parametrize("distinct", [0, 1, 3, TALLY_BY_COUNT, TALLY_BY_COUNT + 1, 200])
def test_tally_counts_like_a_counter(distinct):
    rng = random.Random(distinct)
    values = [rng.randrange(max(distinct, 1)) for _ in range(300 if distinct else 0)]
    assert tally(values) == Counter(values)


def test_severity_counts():
    batch = mined([entry("a", n=0), entry("b", n=1, severity=Severity.ERROR),
                   entry("c", n=2, severity=Severity.ERROR)])
    assert severity_counts(batch) == {Severity.INFO: 1, Severity.ERROR: 2}
    assert severity_counts(batch) is severity_counts(batch)
    assert severity_counts(mined([])) == {}


def test_template_counts_in_first_line_order_once_a_batch():
    batch = mined([entry("b 1", n=0), entry("a 2", n=1), entry("b 3", n=2)],
                  template_of=lambda m: m.split()[0])
    counts = template_counts(batch)
    assert [(batch.templates[t], c) for t, c in counts.items()] == [("b", 2), ("a", 1)]
    assert template_counts(batch) is counts  # counted once for every detector
    other = mined([entry("c 1", n=0)], template_of=lambda m: m.split()[0])
    assert list(template_counts(other).values()) == [1]


def test_messages_in_entry_order_once_a_batch():
    batch = mined([entry("x", n=0), entry("y", n=1), entry("x", n=2)])
    assert messages(batch) == ("x", "y", "x")
    assert messages(batch) is messages(batch)
    assert messages(mined([entry("z", n=0)])) == ("z",)
