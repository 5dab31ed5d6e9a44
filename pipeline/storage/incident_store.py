"""The incident verbs the CLI and the HTTP API share, and the lifecycle sweep.

Every read and write takes `projects`: None sees everything (the CLI, an operator);
a collection of project ids sees only incidents, silences and feedback of those
projects (a tenant's API token). An incident out of scope is reported as not found.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from pipeline.incidents import IncidentPolicy, IncidentState, Matcher
from pipeline.storage import feedback, incidents, notices, queries, silences
from pipeline.storage.feedback import Feedback, FeedbackLabel
from pipeline.storage.incidents import facts_of
from pipeline.storage.models import ALERTS
from pipeline.storage.records import DeliveryAttempt, StoredAlert
from pipeline.storage.silences import Silence

OPEN_STATES = (IncidentState.FIRING.value, IncidentState.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class SweepReport:
    resolved: tuple[str, ...] = ()  # incidents that went quiet
    repeated: int = 0  # messages enqueued to re-notify still-firing incidents


@dataclass(frozen=True, slots=True)
class OpenCount:
    severity: str
    state: str
    count: int


class IncidentStore:
    """Incidents, silences and feedback on SQLite or Postgres; `clock` times them."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self._clock = clock

    def find(
        self,
        *,
        states: Collection[str] | None = None,
        severity: str | None = None,
        service: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
        projects: Collection[str] | None = None,
    ) -> list[StoredAlert]:
        """Incidents, most recently active first, filtered."""
        with self.engine.connect() as conn:
            return queries.alerts(conn, status=states, severity=severity, since_ns=since_ns,
                                  limit=limit, service=service, projects=projects)

    def get(self, incident_id: str, projects: Collection[str] | None = None
            ) -> StoredAlert | None:
        stmt = select(ALERTS).where(ALERTS.c.id == incident_id)
        if projects is not None:
            stmt = stmt.where(ALERTS.c.project.in_(list(projects)))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else StoredAlert.from_row(row)

    def history(self, incident_id: str, projects: Collection[str] | None = None
                ) -> list[DeliveryAttempt]:
        """Every attempt at every message of the incident (skipped ones with why)."""
        if self.get(incident_id, projects) is None:
            return []
        with self.engine.connect() as conn:
            return queries.deliveries(conn, alert_id=incident_id, limit=10_000)

    def acknowledge(self, incident_id: str, by: str,
                    projects: Collection[str] | None = None) -> StoredAlert | None:
        """Mutes a firing incident until it resolves and tells its receivers who took it.
        Returns the incident (unchanged when it was not firing); None when not found."""
        if self.get(incident_id, projects) is None:
            return None
        with self.engine.begin() as conn:
            incidents.acknowledge(conn, incident_id, by=by, now=self._clock())
        return self.get(incident_id)

    def resolve(self, incident_id: str, by: str,
                projects: Collection[str] | None = None) -> StoredAlert | None:
        """Resolves an open incident; its resolved notice goes wherever it was paged.
        Returns the incident; None when not found."""
        if self.get(incident_id, projects) is None:
            return None
        with self.engine.begin() as conn:
            incidents.resolve(conn, incident_id, by=by, now=self._clock())
        return self.get(incident_id)

    def sweep(self, now_ns: int, policy: IncidentPolicy) -> SweepReport:
        """What beat does (the log's clock in a replay): resolves incidents quiet for
        `policy.quiet_s` and re-notifies firing ones past their repeat interval.

        Quiet means quiet by both clocks: no anomaly in the logs' time since `now_ns` minus
        the quiet period, and none joined since the store's clock minus it. A backfill of
        old logs is quiet by the first alone, yet its incidents are still growing."""
        now = self._clock()
        resolved: list[str] = []
        repeated = 0
        quiet_before = now_ns - policy.quiet_ns
        idle_before = now - timedelta(seconds=policy.quiet_s)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(ALERTS).where(ALERTS.c.status.in_(OPEN_STATES)).order_by(ALERTS.c.id)
                .with_for_update(skip_locked=True)
            ).mappings().all()
            for row in rows:
                if row["last_seen_ns"] <= quiet_before and row["active_at"] <= idle_before:
                    if incidents.resolve(conn, row["id"], by="quiet period", now=now):
                        resolved.append(row["id"])
                elif row["status"] == IncidentState.FIRING.value:
                    repeated += notices.repeat(conn, row["id"], facts_of(row), policy.router,
                                               now)
        return SweepReport(tuple(resolved), repeated)

    def open_counts(self) -> list[OpenCount]:
        """Open incidents by severity and state (the `incidents_open` gauge)."""
        col = ALERTS.c
        stmt = (select(col.severity, col.status, func.count())
                .where(col.status.in_(OPEN_STATES)).group_by(col.severity, col.status))
        with self.engine.connect() as conn:
            return [OpenCount(s, st, int(n)) for s, st, n in conn.execute(stmt).all()]

    def add_silence(self, matchers: Sequence[Matcher], *, duration: timedelta, author: str,
                    comment: str, starts_at: datetime | None = None,
                    project: str | None = None) -> Silence:
        """A silence from `starts_at` (now) for `duration`. ValueError for no matchers."""
        now = self._clock()
        start = starts_at or now
        with self.engine.begin() as conn:
            return silences.create(conn, matchers, starts_at=start, ends_at=start + duration,
                                   author=author, comment=comment, now=now, project=project)

    def silences(self, *, active_only: bool = False,
                 projects: Collection[str] | None = None) -> list[Silence]:
        with self.engine.connect() as conn:
            return silences.listed(conn, active_at=self._clock() if active_only else None,
                                   projects=projects)

    def expire_silence(self, silence_id: str, projects: Collection[str] | None = None) -> bool:
        """Ends a silence now; False when no such silence is in force (in scope)."""
        with self.engine.begin() as conn:
            return silences.expire(conn, silence_id, self._clock(), projects)

    def add_feedback(self, incident_id: str, label: FeedbackLabel, *, author: str,
                     comment: str = "", suppress: bool = True,
                     duration: timedelta | None = None,
                     projects: Collection[str] | None = None) -> Feedback | None:
        """Records feedback; with `suppress`, new anomalies of the incident's template on
        its stream open no incident (for `duration`, or until the template changes).
        None when the incident is not found."""
        now = self._clock()
        expires = None if duration is None else now + duration
        with self.engine.begin() as conn:
            return feedback.add(conn, incident_id, label, author=author, comment=comment,
                                suppress=suppress, expires_at=expires, now=now,
                                projects=projects)

    def feedback(self, *, stream: str | None = None,
                 projects: Collection[str] | None = None) -> list[Feedback]:
        """Feedback given, newest first: labels eval and the detectors can read."""
        with self.engine.connect() as conn:
            return feedback.listed(conn, stream=stream, projects=projects)
