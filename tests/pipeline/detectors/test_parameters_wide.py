"""Parameters on wide lines: numbers read a line, and a slot, at a time give what reading
them one by one gives (the values, the findings, the state learned, in its order)."""

from __future__ import annotations

import math
import random
import re

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detectors import parameters
from pipeline.detectors.base import inherit_slots
from pipeline.detectors.parameters import ParameterDetector, ParameterState, ParamStat
from tests.pipeline.detectors.factory import entry, mined
from tests.pipeline.detectors.test_parameters import numbers_in

TOKENS = ["<NUM>", "<*>", "k=<NUM>", "<NUM>,", "<NUM>ms", "<*>:<*>", "a<*>b<*>", "<*><*>",
          "took", "ms", "s", "seconds", "=", "(<NUM>)", "<DURATION>"]
TEXTS = ["12", "007", "1.5s", "12ms", "x", "12,", "k=5", "5:6", "a1b2", "1234567890123",
         "\u0661\u0662", "-3", "4kb", "(8)", "ab", "9%", "3.25", "k=", "1e5", ":"]


def token_by_token(template: str, message: str) -> list[tuple[str, float, str]]:
    """The plain reading: each placeholder token's own regex on its token, each group's
    text through `_number`."""
    width, slots = parameters._pattern(template)
    tokens = parameters._tokens(message, template, width) if slots else None
    found: list[tuple[str, float, str]] = []
    for position, regex, unit in slots if tokens is not None else ():
        match = None if regex is None else regex.fullmatch(tokens[position])
        texts = (tokens[position],) if regex is None else match.groups() if match else ()
        for group, text in enumerate(texts):
            if (number := parameters._number(text, unit)) is not None:
                found.append((f"#{position}.{group}", *number))
    return found


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8),
       st.lists(st.sampled_from(TEXTS), min_size=1, max_size=8),
       st.sampled_from([" ", "  ", "\t", " \u00a0"]))
def test_a_line_read_in_one_match_reads_what_its_tokens_read(template_tokens, texts, space):
    template = " ".join(template_tokens)
    message = space.join(texts)
    assert numbers_in(template, message) == token_by_token(template, message)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**13), min_size=1, max_size=30),
       st.sampled_from(["", "ms", "s", "kb"]))
def test_digits_read_in_one_step_are_the_numbers_read_one_by_one(values, unit):
    template = " ".join((["<NUM>", unit] if unit else ["<NUM>"]) * len(values))
    message = " ".join(f"{v} {unit}" if unit else str(v) for v in values)
    read = numbers_in(template, message)
    assert read == token_by_token(template, message)
    assert [math.copysign(1, v) for _, v, _ in read] == [1.0] * len(read)


def wide_line(rng: random.Random, pairs: int, hot: bool) -> str:
    values = [rng.choice(["n/a", "-7", "45ms", "1.5s"]) if rng.random() < 0.05
              else str(rng.randrange(10, 100) * (10**6 if hot and rng.random() < 0.2 else 1))
              for _ in range(pairs)]
    body = ", ".join(f"col_{rng.randrange(60)} = {v}" for v in values)
    return f"executing UPDATE orders SET {body} WHERE id = {rng.randrange(10**6)}"


def shape(message: str) -> str:
    return re.sub(r"(?<=col_)\d+", "<NUM>", re.sub(r"= [^ ,]+", "= <*>", message))


def reference_detect(detector: ParameterDetector, batch, state: ParameterState):
    """The detector as a loop over each number read, one at a time."""
    stats = inherit_slots(state.stats, batch.ancestors)
    lines = enumerate(zip(batch.entries, batch.template_ids, strict=True))
    readings = [(f"{tid}{slot}", index, value, unit) for index, (e, tid) in lines
                for slot, value, unit in token_by_token(batch.templates[tid], e.message)]
    floor, excesses = math.log(detector.min_ratio), []
    for key, _, value, _ in readings:
        high = detector._log_high(stats.get(key))
        excess = math.log1p(value) - high if high is not None and value > 0 else 0.0
        excesses.append(excess if excess >= floor else 0.0)
    outliers = [(x, key, index, value)
                for (key, index, value, _), x in zip(readings, excesses, strict=True) if x]
    lead = max(outliers, key=lambda o: (o[0], o[1])) if outliers else None
    same = [o[2] for o in outliers if lead and o[1] == lead[1]]
    added: dict[str, dict[int, float]] = {}
    units, seen = {}, {}
    for (key, _, value, unit), x in zip(readings, excesses, strict=True):
        if value >= 0:
            counts = added.setdefault(key, {})
            units.setdefault(key, unit)
            seen[key] = seen.get(key, 0) + 1
            bucket = int(math.log1p(value) * parameters.BUCKETS_PER_E)
            counts[bucket] = counts.get(bucket, 0.0) + (detector.outlier_weight if x else 1.0)
    grown, now = dict(stats), batch.batch.end_ns
    for key, counts in added.items():
        old = grown.get(key)
        buckets = old.aged(now, detector.tau_s) if old else {}
        for bucket, count in counts.items():
            buckets[bucket] = buckets.get(bucket, 0.0) + count
        n = (old.n if old else 0) + seen[key]
        grown[key] = ParamStat(dict(sorted(buckets.items())), n, now, units[key])
    if len(grown) > detector.max_keys:
        keep = sorted(grown, key=lambda k: (grown[k].at_ns, k))[-detector.max_keys:]
        grown = {k: grown[k] for k in keep}
    found = (lead[3], len(same), len(outliers) - len(same), same) if lead else None
    return found, ParameterState(grown, state.streak.advance(bool(outliers)))


def test_wide_lines_give_the_findings_and_state_of_reading_each_number_alone():
    for max_keys in (40, 500):
        rng = random.Random(max_keys)
        detector = ParameterDetector(warmup_values=5, max_keys=max_keys)
        state = expected = detector.initial_state()
        fired = 0
        for w in range(12):
            lines = [wide_line(rng, rng.choice((3, 5, 8)), hot=w >= 8) for _ in range(60)]
            batch = mined((entry(m, at_s=w * 60 + i, n=i) for i, m in enumerate(lines)),
                          template_of=shape)
            findings, state = detector.detect(batch, state)
            reference, expected = reference_detect(detector, batch, expected)
            assert msgspec.json.encode(state) == msgspec.json.encode(expected)
            if reference is None:
                assert findings == []
                continue
            fired += 1
            [finding] = findings
            value, entries, others, indexes = reference
            assert finding.evidence.numbers["value"] == value
            assert finding.evidence.numbers["entries"] == entries
            assert finding.evidence.numbers["other_outliers"] == others
            assert finding.evidence.entry_ids == tuple(
                batch.entries[i].insert_id for i in indexes[:20])
        assert fired >= 3


def slots_line_by_line(batch) -> list[parameters.SlotReadings]:
    """The batch's slots as reading each line alone, token by token, gives them: in the
    order of their first value read (entry order, then token order)."""
    read: dict[str, tuple[str, int, int, list[int], list[float], list[str]]] = {}
    for index, (e, tid) in enumerate(zip(batch.entries, batch.template_ids, strict=True)):
        template = batch.templates.get(tid, "")
        values, units = parameters._read_row(template, e.message, whole_line=False)
        for column, (value, (key, position, group, unit)) in enumerate(
                zip(values, parameters._columns_of(tid, template), strict=False)):
            if value is not None:
                slot = read.setdefault(key, (tid, position, group, [], [], []))
                slot[3].append(index)
                slot[4].append(value)
                slot[5].append(unit if units is None else units[column])
    return [parameters.SlotReadings(key, tid, position, group, tuple(i), tuple(v), tuple(u))
            for key, (tid, position, group, i, v, u) in read.items()]


def test_a_batch_reads_the_slots_of_reading_each_line_alone():
    """Whatever the line cache holds (nothing, every line, some lines), with lines of
    digits alone, of units and odd values, lines that do not line up with their template,
    templates without a placeholder, a placeholder that never holds a number, and a
    template busy enough for its line regex."""
    rng = random.Random(3)
    lines = [wide_line(rng, rng.choice((2, 4)), hot=i % 9 == 0) for i in range(40)]
    lines += [f"served {rng.randrange(100)} rows in {rng.randrange(900)} ms" for _ in range(40)]
    lines += ["cache warmed", "served many rows in no time", "served 3 rows in 4 ms extra"]
    lines += [f"took {rng.choice(['12', '1.5s', 'n/a', '7ms'])} for job {i}" for i in range(20)]
    lines += [f"user {rng.choice(['ann', 'bob'])} in after {rng.randrange(9)} ms" for _ in range(9)]
    lines += lines[:30]  # lines met again within the batch
    rng.shuffle(lines)

    def template_of(message: str) -> str:
        if message.startswith("served"):
            return "served <*> rows in <*> ms"
        if message.startswith("user"):
            return "user <*> in after <*> ms"
        return shape(re.sub(r"(?<=took )\S+|(?<=job )\d+", "<*>", message))

    batch = mined((entry(m, n=i) for i, m in enumerate(lines)), template_of=template_of)
    expected = slots_line_by_line(batch)
    assert len({s.template_id for s in expected}) >= 3 and len(expected) > 10
    parameters._NUMBERS_SEEN.clear()
    for cached in ("nothing", "every line", "some lines"):
        if cached == "some lines":
            parameters._NUMBERS_SEEN.clear()
            for e, tid in list(zip(batch.entries, batch.template_ids, strict=True))[::3]:
                row = parameters._read_row(batch.templates[tid], e.message, False)
                parameters._NUMBERS_SEEN.put(tid, e.message, row, 1)
        assert list(parameters._read_batch(batch)) == expected, cached


def test_a_slot_learned_at_once_is_learned_as_value_by_value():
    """A slot without outliers or negative values has its buckets counted in bulk: the
    same histogram, bit for bit, as adding its values one at a time, bucket edges too."""
    rng = random.Random(5)
    detector, now = ParameterDetector(), 10**12
    edges = [math.expm1(k / parameters.BUCKETS_PER_E) for k in range(120)]
    for trial in range(300):
        values = tuple(rng.choice([0.0, rng.uniform(0, 3), rng.lognormvariate(3, 3),
                                   rng.choice(edges), float(rng.randrange(10**12))])
                       for _ in range(rng.randrange(1, 40)))
        slot = parameters.SlotReadings("t#0.0", "t", 0, 0, tuple(range(len(values))), values,
                                       (rng.choice(["", "ms"]),) * len(values))
        old = ParamStat({2: 1.5, 9: 0.25}, 7, now // 2, "ms") if trial % 2 else None
        counts, seen, unit = detector._weighed(slot, None)  # value by value
        buckets = old.aged(now, detector.tau_s) if old else {}
        for bucket, count in counts.items():
            buckets[bucket] = buckets.get(bucket, 0.0) + count
        expected = ParamStat(dict(sorted(buckets.items())), (old.n if old else 0) + seen, now,
                             unit or "")
        got = detector._learned(old, slot, {}, now)
        assert msgspec.json.encode(got) == msgspec.json.encode(expected)


def test_a_slot_whose_largest_value_is_no_outlier_holds_none():
    """Values just around the outlier line, read with and without the largest-value check."""
    rng = random.Random(6)
    detector = ParameterDetector()
    floor = math.log(detector.min_ratio)
    for _ in range(300):
        log_high = rng.uniform(0, 20)
        line = math.expm1(log_high + floor)
        values = tuple(line * (1 + rng.choice([-1e-6, -1e-12, 0.0, 1e-12, 1e-6, -0.5]))
                       for _ in range(rng.randrange(1, 6)))
        plain = []
        for value in values:
            excess = math.log1p(value) - log_high if value > 0 else 0.0
            plain.append(excess if excess >= floor else 0.0)
        found = detector._excesses(log_high, values)
        assert (found or [0.0] * len(values)) == plain


def test_lines_read_are_kept_against_their_template_within_bounds():
    """A kept line is found only against the template it was read against; the first kept
    go first once the lines, or their sizes, exceed a bound; a row too large is not kept."""
    row: parameters.Row = ((1.0,), None)
    cache = parameters.LinesRead(max_items=3, max_size=10)
    for line in ("a", "b", "c"):
        cache.put("t", line, row, 2)
    assert cache.rows(("t", "u", "t"), ("a", "b", "z")) == [row, None, None]
    cache.put("t", "d", row, 2)  # four lines: "a" goes first, although just met
    assert cache.rows(("t",) * 4, "abcd") == [None, row, row, row]
    cache.put("u", "b", ((2.0,), None), 2)  # read again against another template
    assert cache.rows(("t", "u"), "bb") == [None, ((2.0,), None)]
    cache.put("t", "e", row, 7)  # sizes 2 + 2 + 7 > 10: "c" goes, then "d"
    assert cache.rows(("t",) * 4, "cdbe") == [None, None, None, row]
    assert cache.rows(("u",), "b") == [((2.0,), None)] and len(cache) == 2
    cache.put("t", "f", row, 11)
    assert cache.rows(("t",), "f") == [None] and len(cache) == 2
    empty = parameters.LinesRead(max_items=0, max_size=10)
    empty.put("t", "a", row, 1)
    assert len(empty) == 0 and empty.rows(("t",), "a") == [None]
