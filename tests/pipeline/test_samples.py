"""Sample lines: each line a message gives is redacted once, and the lines picked are those
redacting every candidate in turn picks."""

from __future__ import annotations

import random

from pipeline.anomaly import Anomaly, AnomalySeverity
from pipeline.escalation.redaction import redact
from pipeline.findings import Evidence, Finding
from pipeline.samples import MAX_LINE, MAX_SAMPLES, _candidates, with_samples
from tests.pipeline.detectors.factory import STREAM, entry, mined


def _picked_redacting_each(anomaly: Anomaly, batch) -> tuple[str, ...]:
    """The lines as first written: every candidate redacted, duplicates dropped after."""
    picked: list[str] = []
    for e in _candidates(anomaly, batch):
        line = redact(" ".join(e.message.split()))[:MAX_LINE]
        if line and line not in picked:
            picked.append(line)
        if len(picked) == MAX_SAMPLES:
            break
    return tuple(picked)


def test_repeated_and_blank_messages_pick_the_lines_redacting_each_would():
    rng = random.Random(2)
    texts = ["db timeout user=a@b.io", "db  timeout user=a@b.io", " ", "", "ok",
             "password=hunter2", "password=hunter3", "x" * 700]
    for n in range(200):
        batch = mined([entry(rng.choice(texts), n=i, severity=rng.choice([200, 400, 500]))
                       for i in range(rng.randrange(1, 12))])
        ids = tuple(e.insert_id for e in rng.sample(batch.entries, min(2, len(batch.entries))))
        finding = Finding("d", "t", 0.9, "s", Evidence(entry_ids=ids))
        lead = rng.choice([None, *batch.template_ids])
        anomaly = Anomaly(f"a{n}", "b", STREAM, 0, 1, "t", AnomalySeverity.WARNING, 0.9, "s",
                          (finding,), "f", lead_template_id=lead)
        assert with_samples(anomaly, batch).samples == _picked_redacting_each(anomaly, batch)
