"""Sample lines: up to three real log lines that show an anomaly, redacted, so a message
shows what happened and not only the masked template.

The lines the findings name come first (their evidence), then lines of the anomaly's lead
template, then the batch's most severe lines. Redacted as a prompt is (invariant 5): the
lines leave the process in Slack and email.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from pipeline.anomaly import Anomaly
from pipeline.detectors.base import MinedBatch
from pipeline.entry import LogEntry
from pipeline.escalation.redaction import redact

MAX_SAMPLES = 3
MAX_LINE = 500  # characters kept of one sample line


def with_samples(anomaly: Anomaly, mined: MinedBatch) -> Anomaly:
    """`anomaly` with up to three sample lines from the batch it was found in."""
    picked: list[str] = []
    tried: set[str] = set()  # redacted again, a line would come out the same: not taken
    for entry in _candidates(anomaly, mined):
        text = " ".join(entry.message.split())
        if text in tried:
            continue
        tried.add(text)
        line = redact(text)[:MAX_LINE]
        if line and line not in picked:
            picked.append(line)
        if len(picked) == MAX_SAMPLES:
            break
    return dataclasses.replace(anomaly, samples=tuple(picked))


def _candidates(anomaly: Anomaly, mined: MinedBatch) -> Iterator[LogEntry]:
    wanted = {i for f in anomaly.findings for i in f.evidence.entry_ids}
    entries = mined.entries
    yield from (e for e in entries if e.insert_id in wanted)
    if anomaly.lead_template_id is not None:
        yield from (e for e, t in zip(entries, mined.template_ids, strict=True)
                    if t == anomaly.lead_template_id)
    yield from sorted(entries, key=lambda e: -int(e.severity))[:MAX_SAMPLES * 4]
