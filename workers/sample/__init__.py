"""The bundled demo sample: four hours of Cloud Logging entries built from real Loghub
lines, with its incidents written down beside it (`truth.json`).

`python -m workers.sample.build` regenerates both files; see LOGHUB.md for the source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.entry import StreamKey
from pipeline.storage import StoredAlert

_HERE = Path(__file__).parent
# An alert belongs to an incident of its service when it starts within this slack of it.
SLACK = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident planted in the sample: where, when, and what should notice it."""

    id: str
    kind: str  # error_burst, new_failure_message, crash_loop, auth_failure_burst, ...
    service: str
    resource_type: str
    start: datetime
    end: datetime
    description: str
    signals: tuple[str, ...]  # anomaly types expected to fire, the main one first

    def covers(self, when: datetime) -> bool:
        return self.start <= when <= self.end

    def explains(self, service: str, start_ns: int) -> bool:
        """Whether something on `service` that began at `start_ns` is this incident."""
        when = datetime.fromtimestamp(start_ns / 1e9, UTC)
        return service == self.service and self.start - SLACK <= when <= self.end + SLACK

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "service": self.service,
            "resource_type": self.resource_type,
            "start": _rfc3339(self.start),
            "end": _rfc3339(self.end),
            "description": self.description,
            "signals": list(self.signals),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incident:
        return cls(
            id=data["id"],
            kind=data["kind"],
            service=data["service"],
            resource_type=data["resource_type"],
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            description=data["description"],
            signals=tuple(data["signals"]),
        )


def sample_path() -> Path:
    """The gzipped JSON-lines sample (one LogEntry per line, as a log sink writes them)."""
    return _HERE / "sample.jsonl.gz"


def truth_path() -> Path:
    """The ground truth: span, counts (entries, malformed, duplicates), deploys, incidents."""
    return _HERE / "truth.json"


def load_truth(path: Path | None = None) -> list[Incident]:
    """The incidents of the bundled sample (or of the truth file at `path`), in time order."""
    data = json.loads((path or truth_path()).read_text(encoding="utf-8"))
    return sorted(
        (Incident.from_json(item) for item in data["incidents"]),
        key=lambda incident: incident.start,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Alerts of a run on the sample, against its truth: what each incident raised, and
    the alerts no incident explains."""

    found: dict[str, list[str]]  # incident id -> the anomaly types its alerts gathered
    other: list[tuple[str, str]]  # (service, anomaly type) of the unexplained alerts


def score_alerts(incidents: Sequence[Incident], alerts: Sequence[StoredAlert]) -> Scorecard:
    found: dict[str, list[str]] = {incident.id: [] for incident in incidents}
    other: list[tuple[str, str]] = []
    for alert in alerts:
        service = StreamKey.parse(alert.stream).service
        owners = [i for i in incidents if i.explains(service, alert.first_seen_ns)]
        for incident in owners:
            found[incident.id].extend(alert.anomaly_types)
        if not owners:
            other.extend((service, kind) for kind in alert.anomaly_types)
    return Scorecard(found, other)
