"""Keyset pages: newest first by a nanosecond time, then id. A page ends at the key of
its last row and the next starts after it, so pages stay right while rows arrive, and
a deep page costs what the first does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a page ends: the (time, id) of its last row."""

    ns: int
    id: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_key: PageKey | None  # None on the last page


def newest_first(stmt: Select, ns: ColumnElement[int], ident: ColumnElement[str],
                 limit: int, after: PageKey | None) -> Select:
    """`stmt` ordered newest first, from after `after`, one row past `limit` (which tells
    whether another page follows)."""
    if after is not None:
        stmt = stmt.where(or_(ns < after.ns, and_(ns == after.ns, ident < after.id)))
    return stmt.order_by(ns.desc(), ident.desc()).limit(limit + 1)


def cut(rows: Sequence[T], limit: int, key_of: Callable[[T], PageKey]) -> Page[T]:
    if len(rows) <= limit:
        return Page(list(rows), None)
    return Page(list(rows[:limit]), key_of(rows[limit - 1]))
