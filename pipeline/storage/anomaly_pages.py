"""Anomalies a page at a time, newest first, filtered and limited to a tenant's projects.

Pages are keyed by the last row shown (its start and id), not by an offset: a page
stays right while new anomalies arrive, and a deep page costs what the first does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, Select, and_, or_, select

from pipeline.anomaly import Anomaly
from pipeline.storage.codec import anomaly_from_row
from pipeline.storage.models import ANOMALIES
from pipeline.storage.scope import Projects, stream_in_projects


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page ends: the (start, id) of its last anomaly; the next page starts after."""

    start_ns: int
    id: str


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


@dataclass(frozen=True, slots=True)
class AnomalyPage:
    anomalies: list[Anomaly]
    next_key: PageKey | None  # None on the last page


class AnomalyReader:
    """Reads anomalies for the HTTP API; every read is scoped to the caller's projects."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, where: AnomalyFilter, limit: int, after: PageKey | None = None) -> AnomalyPage:
        stmt = _filtered(select(ANOMALIES), where)
        col = ANOMALIES.c
        if after is not None:
            stmt = stmt.where(or_(col.start_ns < after.start_ns,
                                  and_(col.start_ns == after.start_ns, col.id < after.id)))
        stmt = stmt.order_by(col.start_ns.desc(), col.id.desc()).limit(limit + 1)
        with self._engine.connect() as conn:
            found = [anomaly_from_row(row) for row in conn.execute(stmt).mappings()]
        if len(found) <= limit:
            return AnomalyPage(found, None)
        last = found[limit - 1]
        return AnomalyPage(found[:limit], PageKey(last.start_ns, last.id))

    def get(self, anomaly_id: str, projects: Projects) -> Anomaly | None:
        """The anomaly, or None when it does not exist or lies outside `projects`
        (the caller cannot tell which)."""
        stmt = select(ANOMALIES).where(ANOMALIES.c.id == anomaly_id,
                                       stream_in_projects(ANOMALIES.c.stream, projects))
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else anomaly_from_row(row)


def _filtered(stmt: Select, where: AnomalyFilter) -> Select:
    col = ANOMALIES.c
    conditions: list[ColumnElement[bool]] = [stream_in_projects(col.stream, where.projects)]
    for column, value in ((col.service, where.service), (col.stream, where.stream),
                          (col.anomaly_type, where.anomaly_type), (col.severity, where.severity)):
        if value is not None:
            conditions.append(column == value)
    if where.since_ns is not None:
        conditions.append(col.start_ns >= where.since_ns)
    if where.until_ns is not None:
        conditions.append(col.start_ns < where.until_ns)
    return stmt.where(*conditions)
