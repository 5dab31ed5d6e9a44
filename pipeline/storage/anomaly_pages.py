"""Anomalies a page at a time, newest first (by start), filtered and limited to a
tenant's projects."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, Select, select

from pipeline.anomaly import Anomaly
from pipeline.storage.codec import anomaly_from_row
from pipeline.storage.models import ANOMALIES
from pipeline.storage.pages import Page, PageKey, cut, newest_first
from pipeline.storage.scope import Projects, project_in


@dataclass(frozen=True, slots=True)
class AnomalyFilter:
    """What to list. Each field left None matches everything; `until_ns` is exclusive."""

    projects: Projects = None
    service: str | None = None
    stream: str | None = None
    anomaly_type: str | None = None
    severity: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    incident_id: str | None = None  # the anomalies folded into this incident


class AnomalyReader:
    """Reads anomalies for the HTTP API; every read is scoped to the caller's projects."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, where: AnomalyFilter, limit: int,
             after: PageKey | None = None) -> Page[Anomaly]:
        col = ANOMALIES.c
        stmt = newest_first(_filtered(select(ANOMALIES), where), col.start_ns, col.id,
                            limit, after)
        with self._engine.connect() as conn:
            found = [anomaly_from_row(row) for row in conn.execute(stmt).mappings()]
        return cut(found, limit, lambda a: PageKey(a.start_ns, a.id))

    def get(self, anomaly_id: str, projects: Projects) -> Anomaly | None:
        """The anomaly, or None when it does not exist or lies outside `projects`
        (the caller cannot tell which)."""
        stmt = select(ANOMALIES).where(ANOMALIES.c.id == anomaly_id,
                                       project_in(ANOMALIES.c.project, projects))
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else anomaly_from_row(row)


def _filtered(stmt: Select, where: AnomalyFilter) -> Select:
    col = ANOMALIES.c
    conditions: list[ColumnElement[bool]] = [project_in(col.project, where.projects)]
    for column, value in ((col.service, where.service), (col.stream, where.stream),
                          (col.anomaly_type, where.anomaly_type), (col.severity, where.severity),
                          (col.alert_id, where.incident_id)):
        if value is not None:
            conditions.append(column == value)
    if where.since_ns is not None:
        conditions.append(col.start_ns >= where.since_ns)
    if where.until_ns is not None:
        conditions.append(col.start_ns < where.until_ns)
    return stmt.where(*conditions)
