"""Incidents a page at a time, most recently active first, filtered and limited to a
tenant's projects. Reads the incidents' own table; every change to them goes through
`IncidentStore`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, select

from pipeline.storage.models import ALERTS
from pipeline.storage.pages import Page, PageKey, cut, newest_first
from pipeline.storage.records import StoredAlert
from pipeline.storage.scope import Projects, project_in


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Each field left None matches everything. `since_ns`: still active at or after it
    (last seen); `until_ns`: begun before it (first seen)."""

    projects: Projects = None
    states: Collection[str] | None = None
    severity: str | None = None
    service: str | None = None
    stream: str | None = None
    anomaly_type: str | None = None  # the type of its worst anomaly
    since_ns: int | None = None
    until_ns: int | None = None


class IncidentReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, where: IncidentFilter, limit: int,
             after: PageKey | None = None) -> Page[StoredAlert]:
        col = ALERTS.c
        stmt = newest_first(select(ALERTS).where(*_conditions(where)), col.last_seen_ns,
                            col.id, limit, after)
        with self._engine.connect() as conn:
            found = [StoredAlert.from_row(row) for row in conn.execute(stmt).mappings()]
        return cut(found, limit, lambda i: PageKey(i.last_seen_ns, i.id))


def _conditions(where: IncidentFilter) -> list[ColumnElement[bool]]:
    col = ALERTS.c
    found = [project_in(col.project, where.projects)]
    if where.states is not None:
        found.append(col.status.in_(sorted(where.states)))
    for column, value in ((col.severity, where.severity), (col.service, where.service),
                          (col.stream, where.stream), (col.anomaly_type, where.anomaly_type)):
        if value is not None:
            found.append(column == value)
    if where.since_ns is not None:
        found.append(col.last_seen_ns >= where.since_ns)
    if where.until_ns is not None:
        found.append(col.first_seen_ns < where.until_ns)
    return found
