"""`logwarden templates FILE`: what the miner makes of a file, template by template.

Input is read as `run` reads it (any format `read_input` detects, gzip or not) and
mined by the same TemplateMiner; nothing is stored. Each line's template id is
its final one: ids of templates that generalized later are resolved to the newest.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

from pipeline.entry import LogEntry
from pipeline.parsing import InputKind, read_input
from pipeline.templates import TemplateMiner, TemplateStats


@dataclass
class TemplateReport:
    """Every template of a file, and each entry's line (or position) and template id
    (None: the entry could not be read)."""

    kind: InputKind
    templates: list[TemplateStats]
    line_ids: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(1 for _, i in self.line_ids if i is not None)

    @property
    def rejected(self) -> int:
        return len(self.line_ids) - self.lines


def mine_file(
    stream: BinaryIO, *, source_name: str, service: str, max_templates: int
) -> TemplateReport:
    """Mines each entry of `stream` in order; bad entries are counted, never raised.

    Raises InputError when the bytes cannot be read on (corrupt gzip)."""
    miner = TemplateMiner(max_templates=max_templates)
    kind, numbered = read_input(stream, source_name=source_name, project="local",
                                service=service or source_name, now_ns=time.time_ns())
    ids: list[tuple[int, str | None]] = []
    for number, item in numbered:
        if isinstance(item, LogEntry):
            ids.append((number, miner.mine(item.message, item.timestamp_ns).template_id))
        else:
            ids.append((number, None))
    final = [(n, None if i is None else miner.resolve(i)) for n, i in ids]
    templates = sorted(miner.templates(), key=lambda s: (-s.count, s.first_seen_ns))
    return TemplateReport(kind, templates, final)


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_table(report: TemplateReport) -> str:
    lines = [f"{'count':>8}  {'first seen':<20}  {'last seen':<20}  {'id':<17}  template"]
    for s in report.templates:
        lines.append(f"{s.count:>8}  {_when(s.first_seen_ns):<20}  {_when(s.last_seen_ns):<20}  "
                     f"{s.template_id:<17}  {s.template}")
    count = len(report.templates)
    lines.append(f"{count} template{'' if count == 1 else 's'} from {report.lines} entries"
                 f" ({report.kind})"
                 + (f"; {report.rejected} not readable" if report.rejected else ""))
    return "\n".join(lines)


def to_json(report: TemplateReport) -> str:
    templates = [
        {"template_id": s.template_id, "template": s.template, "count": s.count,
         "first_seen": _when(s.first_seen_ns), "last_seen": _when(s.last_seen_ns)}
        for s in report.templates
    ]
    return json.dumps({"input": str(report.kind), "entries": report.lines,
                       "rejected": report.rejected, "templates": templates}, indent=2)


def write_per_line(report: TemplateReport, out: TextIO) -> None:
    """One row per entry, in input order: its line (or position in a JSON array) and its
    template id (empty: the entry could not be read). Blank lines have no row."""
    writer = csv.writer(out)
    writer.writerow(["line", "template_id"])
    for number, template_id in report.line_ids:
        writer.writerow([number, template_id or ""])
