"""`logwarden templates FILE`: what the miner makes of a file, template by template.

Lines are read as `run` reads them (JSON LogEntry lines or plain text, gzip or not)
and mined by the same TemplateMiner; nothing is stored. Each line's template id is
its final one: ids of templates that generalized later are resolved to the newest.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO, cast

from pipeline.entry import LogEntry
from pipeline.parsing import iter_lines
from pipeline.templates import TemplateMiner, TemplateStats

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class TemplateReport:
    """Every template of a file, and the template id of each of its lines (None: not mined)."""

    templates: list[TemplateStats]
    line_ids: list[str | None] = field(default_factory=list)
    rejected: int = 0

    @property
    def lines(self) -> int:
        return sum(1 for i in self.line_ids if i is not None)


def open_input(stream: BinaryIO) -> BinaryIO:
    """`stream`, or its gunzipped content when it starts as gzip does (a file or stdin)."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(cast(Any, stream))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return cast(BinaryIO, gzip.GzipFile(fileobj=buffered))
    return cast(BinaryIO, buffered)


def mine_file(
    stream: BinaryIO, *, source_name: str, service: str, max_templates: int
) -> TemplateReport:
    """Mines each line of `stream` in order; bad lines are counted, never raised."""
    miner = TemplateMiner(max_templates=max_templates)
    now_ns = time.time_ns()
    ids: list[str | None] = []
    rejected = 0
    for raw in stream:
        if not raw.strip():
            ids.append(None)
            continue
        parsed = list(iter_lines(io.BytesIO(raw), source_name=source_name, project="local",
                                 service=service or source_name, now_ns=now_ns))
        entry = parsed[0] if parsed else None
        if isinstance(entry, LogEntry):
            ids.append(miner.mine(entry.message, entry.timestamp_ns).template_id)
        else:
            rejected += entry is not None
            ids.append(None)
    final = [None if i is None else miner.resolve(i) for i in ids]
    templates = sorted(miner.templates(), key=lambda s: (-s.count, s.first_seen_ns))
    return TemplateReport(templates, final, rejected)


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_table(report: TemplateReport) -> str:
    lines = [f"{'count':>8}  {'first seen':<20}  {'last seen':<20}  {'id':<17}  template"]
    for s in report.templates:
        lines.append(f"{s.count:>8}  {_when(s.first_seen_ns):<20}  {_when(s.last_seen_ns):<20}  "
                     f"{s.template_id:<17}  {s.template}")
    lines.append(f"{len(report.templates)} templates from {report.lines} lines"
                 + (f"; {report.rejected} not readable" if report.rejected else ""))
    return "\n".join(lines)


def to_json(report: TemplateReport) -> str:
    templates = [
        {"template_id": s.template_id, "template": s.template, "count": s.count,
         "first_seen": _when(s.first_seen_ns), "last_seen": _when(s.last_seen_ns)}
        for s in report.templates
    ]
    return json.dumps({"lines": report.lines, "rejected": report.rejected,
                       "templates": templates}, indent=2)


def write_per_line(report: TemplateReport, out: TextIO) -> None:
    """One row per input line, in order: its number and template id (empty: not mined)."""
    writer = csv.writer(out)
    writer.writerow(["line", "template_id"])
    for number, template_id in enumerate(report.line_ids, 1):
        writer.writerow([number, template_id or ""])
