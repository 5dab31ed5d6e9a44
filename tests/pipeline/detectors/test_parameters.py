"""Parameters: numbers read through templates, and values far above their usual range."""

from __future__ import annotations

import math
import random
import re
import tracemalloc
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detectors import parameters
from pipeline.detectors.base import inherit_slots
from pipeline.detectors.parameters import ParameterDetector, read_slots
from tests.pipeline.detectors.factory import entry, mined


def shape(message: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "<*>", message)


def window(w: int, rng: random.Random, *, slow: float = 1.0, outliers: int = 0):
    lines = [
        f"GET /items took {rng.lognormvariate(math.log(120), 0.3):.0f} ms retries=1"
        for _ in range(30)
    ]
    lines += [f"request {rng.randrange(10**7, 10**8)} queued" for _ in range(10)]
    lines += [f"GET /items took {slow * 120:.0f} ms retries=1" for _ in range(outliers)]
    return mined((entry(m, at_s=w * 60 + i, n=i) for i, m in enumerate(lines)), template_of=shape)


def read_numbers(batch):
    """The batch's numbers one by one, in entry order, then token order."""
    found = [(index, slot.position, slot.group, slot.key, value, unit)
             for slot in read_slots(batch)
             for index, value, unit in zip(slot.indexes, slot.values, slot.units, strict=True)]
    return [Reading(key, index, value, unit) for index, _, _, key, value, unit in sorted(found)]


@dataclass(frozen=True)
class Reading:
    key: str
    entry_index: int
    value: float
    unit: str


def run(batches):
    detector = ParameterDetector()
    state, out = detector.initial_state(), []
    for batch in batches:
        findings, state = detector.detect(batch, state)
        out.append(findings)
    return out, state


def test_numbers_are_read_where_the_template_has_placeholders():
    batch = mined(
        [
            entry("served in 250ms to 10.0.0.1 after retries=3", n=0),
            entry("served in 1.5s to 10.0.0.2 after retries=0", n=1),
            entry("served in too long", n=2),
        ],
        template_of=lambda m: "served in <*> to <*> after retries=<*>",
    )
    readings = read_numbers(batch)
    assert [(r.entry_index, r.value, r.unit) for r in readings] == [
        (0, 250.0, "ms"),
        (0, 3.0, ""),
        (1, 1500.0, "ms"),
        (1, 0.0, ""),
    ]
    assert readings[0].key.endswith("#2.0") and readings[1].key.endswith("#6.0")
    assert read_slots(batch) is read_slots(batch)  # read once for both detectors
    other = mined([entry("served in 7ms to 10.0.0.1 after retries=1", n=0)],
                  template_of=lambda m: "served in <*> to <*> after retries=<*>")
    assert [r.value for r in read_numbers(other)] == [7.0, 1.0]


def test_a_duration_written_with_a_unit_word_is_read_through_its_masked_token():
    batch = mined(
        [
            entry("[instance: 7f3a] Took 19.05 seconds to build instance.", n=0),
            entry("[instance: 7f3b] Took 2 minutes to build instance.", n=1),
            entry("[instance: 7f3c] Took a while to build instance.", n=2),
        ],
        template_of=lambda m: "[instance: <HEX>] Took <DURATION> to build instance.",
    )
    readings = read_numbers(batch)
    assert [(r.entry_index, r.value, r.unit) for r in readings] == [
        (0, 19050.0, "ms"),
        (1, 120000.0, "ms"),
    ]


def test_quiet_on_steady_values_and_ids():
    rng = random.Random(1)
    results, _ = run([window(w, rng) for w in range(200)])
    assert [f for found in results for f in found] == []


def test_a_duration_far_above_its_range_fires():
    rng = random.Random(2)
    batches = [window(w, rng) for w in range(20)] + [window(20, rng, slow=40, outliers=5)]
    results, _ = run(batches)
    assert all(found == [] for found in results[:20])
    [finding] = results[-1]
    assert finding.anomaly_type == "parameter_outlier" and finding.score >= 0.5
    assert finding.summary.startswith('A number in "GET /items took <*> ms retries=<*>" (token 4)')
    assert "reached 4,800 ms in 5 entries" in finding.summary
    assert finding.evidence.numbers["value"] == 4800.0
    assert len(finding.evidence.entry_ids) == 5


def test_one_odd_value_weighs_less_than_several():
    rng = random.Random(3)
    history = [window(w, rng) for w in range(20)]
    one, _ = run([*history, window(20, random.Random(9), slow=40, outliers=1)])
    many, _ = run([*history, window(20, random.Random(9), slow=40, outliers=5)])
    assert one[-1][0].score < many[-1][0].score


def test_a_recurring_high_mode_becomes_usual():
    rng = random.Random(4)
    batches = [window(w, rng, slow=40, outliers=5 if w % 3 == 0 else 0) for w in range(300)]
    results, _ = run(batches)
    assert sum(1 for found in results[200:] if found) == 0


def test_slots_of_every_absorbed_template_move_to_the_one_that_absorbed_them():
    """A template that widened over a full leaf of free text has hundreds of ancestors."""
    olds = tuple(f"t{i:03d}" for i in range(300))
    stats = {f"{old}#{slot}.0": (old, slot) for old in olds[::3] for slot in (1, 4)}
    stats["tkeep#2.0"] = ("tkeep", 2)
    moved = inherit_slots(stats, {"tnew": olds, "tkeep": ()})
    assert moved["tkeep#2.0"] == ("tkeep", 2)
    assert set(moved) == {"tkeep#2.0", "tnew#1.0", "tnew#4.0"}
    assert moved["tnew#1.0"] == ("t000", 1)  # the nearest ancestor's state is kept
    assert inherit_slots(stats, {"tkeep": ()}) is stats


def test_lines_of_many_numbers_are_kept_within_a_bound():
    """Lines met again are read from a cache; lines of fifty numbers, each new, fill it
    by their size, not by their count."""
    rng = random.Random(3)
    template = "stats " + " ".join(f"k{i}=<*>" for i in range(50))
    batches = [
        mined([entry("stats " + " ".join(f"k{i}={rng.randrange(10**6)}" for i in range(50)),
                     n=n) for n in range(500)], template_of=lambda m: template)
        for _ in range(12)
    ]
    read_numbers(batches[0])  # the first batch: what a cold process keeps once
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        counts = [len(read_numbers(batch)) for batch in batches[1:]]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert counts == [25_000] * 11
    # Kept by count alone, the 5,500 lines' readings took more than 40 MB.
    assert held < 12 * 2**20, f"{held:,} bytes held after reading {sum(counts):,} numbers"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789\u0661\u0662\u00b2\u00bd.-+=:,;()[]msµ%kbKB_x", max_size=16),
       st.sampled_from(["", "ms", "MS", "seconds", "kb", "frames"]))
def test_digits_alone_are_read_as_the_number_pattern_reads_them(text, written_after):
    """The short cut for a token of digits alone gives what the pattern gives: the same
    value and unit, or nothing (more than twelve digits, a unit the table lacks)."""
    match = parameters._NUMBER.match(text)
    unit = parameters._UNITS.get((match[2] or written_after).lower()) if match else None
    expected = None if match is None or unit is None else (float(match[1]) * unit[1], unit[0])
    assert parameters._number(text, written_after) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=4),
       st.sampled_from(["<NUM>", "<*>", "<DURATION>"]))
def test_a_token_that_is_a_placeholder_alone_is_read_whole(words, placeholder):
    """A template token that is one placeholder alone is read without its regex: what a
    line holds there is read as the regex `(.*?)` would read it, whatever the text (other
    scripts, control characters, separators str.split() cuts at)."""
    message = " ".join(words)
    tokens = message.split()
    template = " ".join([placeholder] * len(tokens))
    expected = [(f"#{i}.0", *number) for i, token in enumerate(tokens)
                if (group := re.fullmatch("(.*?)", token)) is not None
                and (number := parameters._number(group[1])) is not None]
    assert numbers_in(template, message) == expected


def numbers_in(template: str, message: str) -> list[tuple[str, float, str]]:
    """(`#token.group`, value, unit) of each number read from one line, read both ways
    (with the template's line regex, and token by token), which must agree."""
    both = [_listed(template, parameters._read_row(template, message, whole_line))
            for whole_line in (True, False)]
    assert both[0] == both[1]
    return both[0]


def _listed(template: str, row: parameters.Row) -> list[tuple[str, float, str]]:
    values, units = row
    columns = parameters._columns_of("", template)
    return [(key, value, unit if units is None else units[column])
            for column, ((key, _, _, unit), value) in enumerate(zip(columns, values, strict=False))
            if value is not None]
