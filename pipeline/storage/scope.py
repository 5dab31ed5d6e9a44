"""Tenant scope: which rows a caller limited to some Google Cloud projects may see.

A row's project is the first part of its stream key (`project/resource_type/service`).
The scope is a condition in the query itself, never a filter applied to what came
back, so a row of another project is never read, counted or paged over.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, false, or_, true

# None: every project (an operator's token); an empty collection: none at all.
Projects = Collection[str] | None


def stream_in_projects(stream: ColumnElement[str], projects: Projects) -> ColumnElement[bool]:
    """`stream` belongs to one of `projects`. LIKE with its wildcards escaped, so a
    project id holding `_` or `%` matches only itself; equality-like, whatever the
    database's collation (a range on `/` would depend on it)."""
    if projects is None:
        return true()
    if not projects:
        return false()
    return or_(*(stream.startswith(f"{p}/", autoescape=True) for p in sorted(projects)))


def project_in(project: ColumnElement[str], projects: Projects) -> ColumnElement[bool]:
    """For tables that keep the project in a column of its own (incidents, silences)."""
    if projects is None:
        return true()
    return project.in_(sorted(projects)) if projects else false()
