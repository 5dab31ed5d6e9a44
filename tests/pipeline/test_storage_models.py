"""The models' partial index: the DDL of an index declared with the dialects' `where`
keywords on both dialects, without importing the Postgres dialect into an SQLite process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Column, Index, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex

from pipeline.storage.models import ALERTS, OPEN_INCIDENT, PartialIndex

REPO = Path(__file__).resolve().parents[2]


DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def _ddl(index: Index) -> dict[str, str]:
    return {name: str(CreateIndex(index).compile(dialect=d)) for name, d in DIALECTS.items()}


def _table(index: Index) -> Table:
    return Table("t", MetaData(), Column("status", String(16)), Column("group_key", String(64)),
                 index)


def test_a_partial_index_is_the_index_the_dialects_where_keywords_declare() -> None:
    declared = Index("uq_t_open", "group_key", unique=True,
                     postgresql_where=OPEN_INCIDENT, sqlite_where=OPEN_INCIDENT)
    partial = PartialIndex("uq_t_open", "group_key", unique=True, where=OPEN_INCIDENT)
    _table(declared)
    _table(partial)
    ddl = _ddl(partial)
    assert ddl == _ddl(declared)
    assert all(text.endswith("WHERE status <> 'resolved'") for text in ddl.values())
    assert partial.dialect_kwargs == declared.dialect_kwargs  # once each dialect read them


def test_the_open_incident_index_is_partial_on_both_dialects() -> None:
    (index,) = [i for i in ALERTS.indexes if i.name == "uq_alerts_open_group_key"]
    assert all(text == "CREATE UNIQUE INDEX uq_alerts_open_group_key ON alerts (group_key) "
                       "WHERE status <> 'resolved'" for text in _ddl(index).values())


def test_the_models_do_not_import_the_postgres_dialect() -> None:
    probe = ("import sys, pipeline.storage, migrations; "
             "print(any(m.startswith('sqlalchemy.dialects.postgresql') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "False"
