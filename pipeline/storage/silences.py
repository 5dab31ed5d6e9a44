"""Silences: matchers that mute the incidents they all match, for a bounded time, with
an author and a comment. Expiring one ends it now; it stays listed as history."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from pipeline.incidents import IncidentFacts, Matcher, all_match
from pipeline.storage.models import SILENCES


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    project: str | None  # the tenant it belongs to; None: every project
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, facts: IncidentFacts, now: datetime) -> bool:
        in_project = self.project is None or facts.key.project == self.project
        return self.active(now) and in_project and all_match(self.matchers, facts)


def create(conn: Connection, matchers: Sequence[Matcher], *, starts_at: datetime,
           ends_at: datetime, author: str, comment: str, now: datetime,
           project: str | None = None) -> Silence:
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    silence = Silence(uuid.uuid4().hex, tuple(matchers), project, starts_at, ends_at,
                      author, comment, now)
    conn.execute(SILENCES.insert().values(
        id=silence.id, matchers=[m.to_json() for m in matchers], project=project,
        starts_at=starts_at, ends_at=ends_at, author=author, comment=comment, created_at=now,
    ))
    return silence


def expire(conn: Connection, silence_id: str, now: datetime,
           projects: Collection[str] | None = None) -> bool:
    """Ends a silence now; False when there is no such silence in force (in scope)."""
    col = SILENCES.c
    stmt = SILENCES.update().where(col.id == silence_id, col.ends_at > now)
    if projects is not None:
        stmt = stmt.where(col.project.in_(list(projects)))
    ends = func.max(col.starts_at, now) if conn.dialect.name == "sqlite" else func.greatest(
        col.starts_at, now)
    return conn.execute(stmt.values(ends_at=ends).returning(col.id)).first() is not None


def listed(conn: Connection, *, active_at: datetime | None = None,
           projects: Collection[str] | None = None, limit: int = 1000) -> list[Silence]:
    """Silences, latest ending first; only those in force at `active_at` when given."""
    col = SILENCES.c
    stmt = select(SILENCES).order_by(col.ends_at.desc(), col.id).limit(limit)
    if active_at is not None:
        stmt = stmt.where(col.starts_at <= active_at, col.ends_at > active_at)
    if projects is not None:
        stmt = stmt.where(col.project.in_(list(projects)))
    return [_silence(row) for row in conn.execute(stmt).mappings()]


def muting(conn: Connection, facts: IncidentFacts, now: datetime) -> Silence | None:
    """The first silence in force that mutes an incident with these facts."""
    return next((s for s in listed(conn, active_at=now) if s.mutes(facts, now)), None)


def _silence(row: object) -> Silence:
    data = dict(row)  # type: ignore[call-overload]
    data["matchers"] = tuple(Matcher.from_json(m) for m in data["matchers"])
    return Silence(**data)
