"""Tenant scope: which rows a caller limited to some Google Cloud projects may see.

A row's project is the first part of its stream key (`project/resource_type/service`),
kept in a `project` column of its own (indexed with the time a page is ordered by). The
scope is a condition in the query itself, never a filter applied to what came back, so
a row of another project is never read, counted or paged over.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, false, true

# None: every project (an operator's token); an empty collection: none at all.
Projects = Collection[str] | None


def project_in(project: ColumnElement[str], projects: Projects) -> ColumnElement[bool]:
    if projects is None:
        return true()
    return project.in_(sorted(projects)) if projects else false()
