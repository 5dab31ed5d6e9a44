"""New templates: which entries of a batch are of a template the stream does not know."""

from __future__ import annotations

import dataclasses
import random

import msgspec

from pipeline.detectors.new_template import NewTemplateDetector, NewTemplateState
from pipeline.entry import Severity
from tests.pipeline.detectors.factory import entry, mined


def fresh_entry_by_entry(batch, known: set[str]) -> dict:
    """The entries of templates neither known nor generalized from a known one, by
    template in first-seen order, as a loop over the entries picks them."""
    fresh: dict = {}
    for e, template_id in zip(batch.entries, batch.template_ids, strict=True):
        if template_id in known or any(a in known for a in batch.ancestors.get(template_id, ())):
            continue
        fresh.setdefault(template_id, []).append(e)
    return fresh


def test_the_entries_judged_new_are_those_a_loop_over_the_entries_picks():
    rng = random.Random(2)
    detector = NewTemplateDetector()
    for trial in range(40):
        shapes = [f"shape {k}" for k in range(12)]
        lines = [f"{rng.choice(shapes)} n={i}" for i in range(rng.choice((1, 30, 200)))]
        severities = [rng.choice(list(Severity)) for _ in lines]
        batch = mined((entry(m, at_s=i, n=i, severity=s)
                       for i, (m, s) in enumerate(zip(lines, severities, strict=True))),
                      template_of=lambda m: m.split(" n=")[0])
        ids = sorted(set(batch.template_ids))
        known = rng.sample(ids, len(ids) // 3)
        # some templates were generalized from a known one, some from one not known
        ancestors = {t: (rng.choice(known or ["gone"]),) for t in rng.sample(ids, len(ids) // 3)}
        batch = dataclasses.replace(batch, ancestors=ancestors)
        warm = trial % 2 == 0
        state = NewTemplateState(known=known, entries=1000 if warm else 0,
                                 batches=100 if warm else 0)
        findings, got = detector.detect(batch, state)
        fresh = fresh_entry_by_entry(batch, set(known))
        if warm:
            expected_findings, expected = detector._judge(batch, state, fresh)
            assert findings == expected_findings
        else:
            expected = NewTemplateState([*known, *fresh], {}, [], len(lines), 1)
        assert msgspec.json.encode(got) == msgspec.json.encode(expected)
