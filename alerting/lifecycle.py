"""The incident sweep: what beat runs every 30 s in the fleet (and a replay runs on the
log's clock) before delivering: quiet incidents resolve, still-firing unacknowledged ones
are paged again after their repeat interval, and the gauges are read from the database."""

from __future__ import annotations

from observability.metrics import get_metrics
from pipeline.incidents import SEVERITY_RANK, IncidentPolicy
from pipeline.storage import Store
from pipeline.storage.incident_store import SweepReport


def sweep_incidents(store: Store, policy: IncidentPolicy, now_ns: int) -> SweepReport:
    """Resolves and repeats as due at `now_ns`; sets `incidents_open`, `silences_active`."""
    incidents = store.incidents
    report = incidents.sweep(now_ns, policy)
    metrics = get_metrics()
    counts = {(c.severity, c.state): c.count for c in incidents.open_counts()}
    for severity in SEVERITY_RANK:
        for state in ("firing", "acknowledged"):
            metrics.incidents_open.labels(severity=severity, state=state).set(
                counts.get((severity, state), 0))
    metrics.silences_active.set(len(incidents.silences(active_only=True)))
    return report
