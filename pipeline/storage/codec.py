"""Contract types to rows and back; an incident's title and evidence lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from pipeline.anomaly import Anomaly, AnomalySeverity, AnomalyStatus, Verdict
from pipeline.entry import StreamKey
from pipeline.findings import Finding

SEVERITY_RANK = {AnomalySeverity.INFO: 0, AnomalySeverity.WARNING: 1, AnomalySeverity.CRITICAL: 2}


def anomaly_values(anomaly: Anomaly, now: datetime) -> dict[str, Any]:
    """The `anomalies` row of `anomaly`; findings and verdict as plain JSON."""
    return {
        "id": anomaly.id,
        "batch_id": anomaly.batch_id,
        "stream": str(anomaly.stream),
        "project": anomaly.stream.project,
        "service": anomaly.stream.service,
        "start_ns": anomaly.start_ns,
        "end_ns": anomaly.end_ns,
        "anomaly_type": anomaly.anomaly_type,
        "severity": str(anomaly.severity),
        "score": anomaly.score,
        "summary": anomaly.summary,
        "findings": msgspec.to_builtins(list(anomaly.findings)),
        "fingerprint": anomaly.fingerprint,
        "lead_template_id": anomaly.lead_template_id,
        "verdict": verdict_json(anomaly.verdict),
        "status": str(anomaly.status),
        "samples": list(anomaly.samples),
        "created_at": now,
    }


def verdict_json(verdict: Verdict | None) -> dict[str, Any] | None:
    return None if verdict is None else msgspec.to_builtins(verdict)


def anomaly_from_row(row: Mapping[Any, Any]) -> Anomaly:
    """Rebuilds the contract type from a row of `anomalies`."""
    verdict = row["verdict"]
    return Anomaly(
        id=row["id"],
        batch_id=row["batch_id"],
        stream=StreamKey.parse(row["stream"]),
        start_ns=row["start_ns"],
        end_ns=row["end_ns"],
        anomaly_type=row["anomaly_type"],
        severity=AnomalySeverity(row["severity"]),
        score=row["score"],
        summary=row["summary"],
        findings=msgspec.convert(row["findings"], tuple[Finding, ...]),
        fingerprint=row["fingerprint"],
        lead_template_id=row["lead_template_id"],
        verdict=None if verdict is None else msgspec.convert(verdict, Verdict),
        status=AnomalyStatus(row["status"]),
        samples=tuple(row.get("samples") or ()),
    )


def alert_title(anomaly: Anomaly) -> str:
    return f"{anomaly.anomaly_type.replace('_', ' ')} in {anomaly.stream.service or anomaly.stream}"


MAX_DETAIL_LINES = 5


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """The lead finding's numbers (its sentence is the summary), then the others, capped."""
    if not findings:
        return []
    lead, rest = findings[0], findings[1:]
    lines = [f"{lead.detector}: {_numbers(lead)}"] if lead.evidence.numbers else []
    lines += [finding_line(f) for f in rest[: MAX_DETAIL_LINES - 1]]
    if len(rest) > MAX_DETAIL_LINES - 1:
        lines.append(f"… and {len(rest) - MAX_DETAIL_LINES + 1} more findings")
    return lines


def finding_line(finding: Finding) -> str:
    numbers = _numbers(finding)
    return f"{finding.detector}: {finding.summary}" + (f" ({numbers})" if numbers else "")


def _numbers(finding: Finding) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(finding.evidence.numbers.items()))


def rfc3339(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")
