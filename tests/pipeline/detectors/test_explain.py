"""Which labels stand out in anomalous entries, and how the counts stay bounded."""

from __future__ import annotations

import random
from collections import Counter

from pipeline.detectors.explain import (
    OTHER,
    SKIPPED_LABELS,
    TOTAL,
    _bounded,
    _raw_counts,
    clip,
    count_fields,
    fields_of,
    overrepresented,
    sentence,
)
from tests.pipeline.detectors.factory import entry


def _from(pod: str, n: int, agent: str = "web") -> list:
    return [
        entry(
            "GET /",
            n=i,
            resource_labels={"pod_name": pod, "project_id": "p"},
            payload={"userAgent": agent},
        )
        for i in range(n)
    ]


def _baseline():
    counts: dict = {}
    for pod in ("web-1", "web-2", "web-3", "web-4"):
        counts = count_fields(counts, _from(pod, 30))
    return counts


def test_names_the_pod_the_anomalous_entries_come_from():
    named = overrepresented(_from("web-3", 18) + _from("web-1", 2), _baseline())
    assert named == ["pod_name=web-3 (90% vs 25% usually)"]
    assert sentence(named) == " Mostly from pod_name=web-3 (90% vs 25% usually)."


def test_names_nothing_when_entries_look_like_the_baseline():
    mixed = [e for pod in ("web-1", "web-2", "web-3", "web-4") for e in _from(pod, 5)]
    assert overrepresented(mixed, _baseline()) == []
    assert sentence([]) == ""


def test_names_nothing_without_enough_baseline():
    assert overrepresented(_from("web-3", 20), count_fields({}, _from("web-1", 10))) == []


def test_a_value_never_seen_before_counts_as_zero_usually():
    named = overrepresented(_from("web-9", 10, agent="curl/8.0"), _baseline())
    assert "userAgent=curl/8.0 (100% vs 0% usually)" in named
    assert "project_id" not in " ".join(named)


def test_counts_are_bounded_and_halved_past_the_total():
    counts: dict = {}
    for i in range(40):
        counts = count_fields(counts, _from(f"pod-{i}", 3), max_values=5, max_total=100)
    assert len(counts["pod_name"]) == 6 and OTHER in counts["pod_name"]
    assert counts[TOTAL][TOTAL] <= 100
    # Halving rounds down, so the field's sum may trail the total a little.
    assert 0.9 * counts[TOTAL][TOTAL] <= sum(counts["pod_name"].values()) <= counts[TOTAL][TOTAL]


def test_clip_keeps_one_printable_line():
    assert clip("a\nb\u202ec") == "a b c"
    assert clip("x" * 500, 10) == "x" * 9 + "…"


def _entry_by_entry(counts: dict, entries: list, max_fields: int) -> dict:
    """The counts as adding each entry's fields one at a time gives them (the oracle)."""
    grown = {f: Counter(v) for f, v in counts.items()}
    for e in entries:
        grown.setdefault(TOTAL, Counter())[TOTAL] += 1
        for key, value in fields_of(e):
            if key in grown or len(grown) <= max_fields:
                grown.setdefault(key, Counter())[value] += 1
    return {f: dict(vs) for f, vs in grown.items()}


def test_counting_a_batch_once_bounds_fields_as_entry_by_entry_would():
    batch = tuple(
        entry("x", n=i, resource_labels={f"k{i % 7}": str(i % 3), f"j{i % 11}": "v"})
        for i in range(60)
    )
    start = count_fields({}, _from("web-1", 3))
    for _ in range(2):  # the second call reads the batch's counts kept from the first
        got = count_fields(start, batch, max_fields=9, max_values=1000)
        assert got == _entry_by_entry(start, list(batch), 9)
        assert len(got) == 10
    # another batch with the same shape is counted afresh, not read from the last one
    other = tuple(entry("x", n=i, resource_labels={"k0": "z"}) for i in range(4))
    assert count_fields({}, other) == {TOTAL: {TOTAL: 4}, "k0": {"z": 4}}


def test_a_batch_of_resource_labels_only_counts_in_first_seen_order():
    """Such batches are counted in C; the order (which decides the fields kept when there
    are too many) is the order of the entries, as for any other batch."""
    labels = [{"project_id": "p", f"k{i % 5}": str(i % 3), "empty": "", f"j{i % 4}": "v"}
              for i in range(40)]
    plain = tuple(entry("x", n=i, resource_labels=d) for i, d in enumerate(labels))
    mixed = (*plain, entry("x", n=99, labels={"k0": "0"}))  # counted entry by entry
    for batch in (plain, mixed):
        got = count_fields({}, batch, max_fields=6, max_values=1000)
        assert got == _entry_by_entry({}, list(batch), 6)
        seen = list(dict.fromkeys(k for e in batch for k, _ in fields_of(e)))
        assert [f for f in got if f != TOTAL] == [f for f in seen if f in got]


def test_runs_of_repeated_labels_count_as_entry_by_entry():
    """Entries with labels or a payload are counted a run of equal labels at a time; the
    counts, and the order in which fields are first seen, are the loop's."""
    entries = []
    for i in range(60):
        pod = f"web-{i // 7 % 3}"  # runs of 7 entries, the same pod coming back later
        resource = {"project_id": "p", "pod_name": pod, f"r{i // 20}": "x", "blank": ""}
        # the same labels, in another key order every other run
        labels = {"zone": "a", f"l{i // 9}": str(i // 9)}
        if i // 7 % 2:
            labels = dict(reversed(labels.items()))
        if i == 31:
            labels = {**labels, "project_id": "counted"}  # an entry label of that name counts
        payload = None
        if i % 3 == 0:
            payload = {"logger": f"log{i % 4}", "method": "" if i % 2 else "GET", "other": 1}
        elif i % 5 == 0:
            payload = {"message": "no field an explanation names"}
        entries.append(entry("x", n=i, resource_labels=resource, labels=labels,
                             payload=payload))
    batch = tuple(entries)
    for max_fields in (4, 8, 30):
        got = count_fields({}, batch, max_fields=max_fields, max_values=1000)
        assert got == _entry_by_entry({}, entries, max_fields)
        seen = list(dict.fromkeys(k for e in batch for k, _ in fields_of(e)))
        assert [f for f in got if f != TOTAL] == [f for f in seen if f in got]
    assert count_fields({}, batch)["project_id"] == {"counted": 1}


def test_runs_of_resource_labels_only_count_as_in_one_pass():
    """A batch of resource labels only is counted a run of equal label maps at a time; the
    counts and their first-seen order are those of counting every entry's pairs."""
    labels = []
    for i in range(80):
        pod = f"web-{i // 6 % 4}"  # runs of 6 entries, each pod coming back later
        found = {"project_id": "p", "pod_name": pod, f"r{i // 25}": "x", "blank": ""}
        if i // 6 % 2:  # the same labels in another key order every other run
            found = dict(reversed(found.items()))
        if i in (40, 41):  # a run of two with a field no entry showed before
            found = {**found, "zone": "b"}
        labels.append(found)
    batch = tuple(entry("x", n=i, resource_labels=d) for i, d in enumerate(labels))
    one_pass = Counter(pair for d in labels for pair in d.items())
    expected = [(pair, count) for pair, count in one_pass.items()
                if pair[0] not in SKIPPED_LABELS and pair[1]]
    assert list(_raw_counts(batch).items()) == expected
    for max_fields in (2, 4, 30):
        got = count_fields({}, batch, max_fields=max_fields, max_values=1000)
        assert got == _entry_by_entry({}, list(batch), max_fields)
        seen = list(dict.fromkeys(k for e in batch for k, _ in fields_of(e)))
        assert [f for f in got if f != TOTAL] == [f for f in seen if f in got]


def _count_afresh(counts: dict, entries: list, max_fields: int, max_values: int,
                  max_total: int) -> dict:
    """`count_fields` as it was first written (the oracle): every field counted and
    bounded again, whether or not the batch added to it."""
    grown = {f: Counter(v) for f, v in _entry_by_entry(counts, entries, max_fields).items()}
    if grown.get(TOTAL, Counter())[TOTAL] > max_total:
        grown = {f: Counter({v: c // 2 for v, c in vs.items() if c > 1}) for f, vs in grown.items()}
    return {f: _bounded(vs, max_values) for f, vs in grown.items() if vs}


def test_fields_a_batch_adds_nothing_to_are_kept_as_counting_afresh_keeps_them():
    rng = random.Random(3)
    for max_fields, max_values, max_total in ((4, 3, 150), (30, 5, 400), (8, 1000, 10**6)):
        counts: dict = {}
        expected: dict = {}
        for n in range(120):
            batch = [entry("x", n=100 * n + i,
                           resource_labels={f"k{rng.randrange(9)}": str(rng.randrange(12))
                                            for _ in range(rng.randrange(3))},
                           payload={"logger": f"l{rng.randrange(4)}"} if rng.random() < .3
                           else None)
                     for i in range(rng.randrange(12))]
            counts = count_fields(counts, tuple(batch), max_fields=max_fields,
                                  max_values=max_values, max_total=max_total)
            expected = _count_afresh(expected, batch, max_fields, max_values, max_total)
            assert [(f, list(vs.items())) for f, vs in counts.items()] == [
                (f, list(vs.items())) for f, vs in expected.items()]
        assert any(OTHER in vs for vs in counts.values()) or max_values == 1000


def test_overrepresented_counts_the_anomalous_entries_as_entry_by_entry():
    rng = random.Random(9)
    baseline = _baseline()
    for _ in range(200):
        entries = [entry("GET /", n=i,
                         resource_labels={"pod_name": rng.choice(["web-1", "web-2", "web-9"]),
                                          "project_id": "p", "zone": rng.choice(["", "a"])},
                         labels=rng.choice([{}, {"zone": "b"}, {"pod_name": "web-9"}]),
                         payload=rng.choice([None, {"userAgent": rng.choice(["web", "bot"])}]))
                   for i in range(rng.randrange(30))]
        for anomalous in (entries, tuple(entries)):
            assert overrepresented(anomalous, baseline, limit=5) == _overrepresented_entry_by_entry(
                anomalous, baseline)


def _overrepresented_entry_by_entry(anomalous, baseline) -> list[str]:
    """`overrepresented` as it was first written, each entry's fields counted in turn."""
    base_total = baseline[TOTAL][TOTAL]
    if len(anomalous) < 5:
        return []
    now: dict = {}
    for e in anomalous:
        for key, value in fields_of(e):
            now.setdefault(key, Counter())[value] += 1
    ranked = []
    for key, values in now.items():
        value, count = min(values.items(), key=lambda kv: (-kv[1], kv[0]))
        share = count / len(anomalous)
        usual = baseline.get(key, {}).get(value, 0) / base_total
        if count >= 5 and share >= 0.5 and share >= 2.0 * usual:
            text = f"{key}={value} ({share:.0%} vs {usual:.0%} usually)"
            ranked.append((usual - share, key, text))
    return [text for *_, text in sorted(ranked)[:5]]
