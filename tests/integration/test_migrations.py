"""Migrations on SQLite and Postgres: up, down, up again, and the result is the models."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

import migrations
from pipeline.storage import METADATA, make_engine
from pipeline.storage.models import made_on
from tests.conftest import throwaway_pg_database

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "processed_batches",
    "entry_outcomes",
    "dead_letters",
    "templates",
    "template_lineage",
    "anomalies",
    "alerts",
    "outbox",
    "deliveries",
    "llm_calls",
    "silences",
    "feedback",
}


def schema_diff(url: str, metadata: MetaData) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # An index the models make on the other dialect only is not expected here.
            def include(item: Any, _name: Any, _kind: Any, reflected: bool, _other: Any) -> bool:
                return reflected or made_on(item, conn.dialect.name)

            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_matches_the_models(db_url: str) -> None:
    migrations.upgrade(db_url)
    assert tables(db_url) == TABLES

    migrations.downgrade(db_url, "base")
    assert tables(db_url) == set()

    migrations.upgrade(db_url)
    migrations.upgrade(db_url)  # already at head: a no-op
    assert schema_diff(db_url, METADATA) == []


def test_the_comparison_would_see_a_difference(db_url: str) -> None:
    migrations.upgrade(db_url)
    diff = schema_diff(db_url, MetaData())
    assert {d[1].name for d in diff if d[0] == "remove_table"} == TABLES


@pytest.mark.integration
def test_processes_upgrading_at_once_on_postgres_migrate_once(pg_url: str) -> None:
    # Separate processes, as when several fleet containers start together.
    code = "import sys, migrations; migrations.upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert schema_diff(pg_url, METADATA) == []


def test_threads_upgrading_at_once_do_not_trip_over_alembic(sqlite_url: str) -> None:
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(migrations.upgrade, [sqlite_url] * 3))  # re-raises any failure
    assert tables(sqlite_url) == TABLES


def test_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.config("sqlite://"))
    assert script.get_current_head() == migrations.HEAD


def test_a_database_at_head_is_not_migrated_again(db_url: str) -> None:
    # Whether upgrading needed Alembic: a new Postgres database does; a new SQLite one is
    # created from the models; one at head is left alone.
    code = ("import sys, migrations; migrations.upgrade(sys.argv[1]); "
            "print('alembic' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, db_url], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.strip() for _ in range(2)]
    assert runs == (["False", "False"] if db_url.startswith("sqlite") else ["True", "False"])
    assert schema_diff(db_url, METADATA) == []


def layout(url: str) -> list[tuple[str, ...]]:
    """Everything the database's catalog says of its schema, as rows. On SQLite: each
    table's columns, indexes and foreign keys as SQLite reads them, and each table's and
    index's DDL (a table's constraint clauses in sorted order and its name unquoted: a
    table a migration rebuilt was renamed into place and lists them in another order).
    On Postgres: each column (its rank, type, length, nullability, default, identity),
    index definition, constraint definition and sequence. Both: the recorded revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = _sqlite_layout(conn)
            else:
                rows = [
                    (str(number), *(str(value) for value in row))
                    for number, query in enumerate(_POSTGRES_CATALOG)
                    for row in conn.execute(text(query))
                ]
            rows += [("version", *row) for row in conn.execute(text(_VERSION))]
            return sorted(rows)
    finally:
        engine.dispose()


_VERSION = "SELECT version_num FROM alembic_version"
_POSTGRES_CATALOG = (
    # The rank, not ordinal_position: a dropped column leaves a gap in the positions.
    "SELECT table_name, rank() OVER (PARTITION BY table_name ORDER BY ordinal_position),"
    " column_name, data_type, character_maximum_length, numeric_precision, is_nullable,"
    " column_default, is_identity, identity_generation"
    " FROM information_schema.columns WHERE table_schema = 'public'",
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    "SELECT sequence_name, data_type, start_value, increment, maximum_value"
    " FROM information_schema.sequences WHERE sequence_schema = 'public'",
)


_PRAGMAS = {  # an index's place in index_list is only the order it was created in
    "table_xinfo": "*",
    "index_list": "name, \"unique\", origin, partial",
    "foreign_key_list": "*",
}


def _sqlite_layout(conn: Any) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    master = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    for kind, name, table, sql in master:
        rows.append(("ddl", kind, name, table, *_clauses(sql if kind == "table" else sql or "")))
        if kind != "table":
            continue
        for pragma, columns in _PRAGMAS.items():
            found = conn.execute(text(f"SELECT {columns} FROM pragma_{pragma}(:t)"), {"t": name})
            rows += [(pragma, name, *(str(value) for value in row)) for row in found]
    return rows


def _clauses(sql: str) -> list[str]:
    """A CREATE TABLE's name, its columns in order, then its constraints sorted."""
    head, _, body = sql.partition("(")
    parts = [part.strip() for part in body.rpartition(")")[0].split(", \n")]
    columns = [part for part in parts if not part.startswith("CONSTRAINT")]
    return [head.replace('"', ""), *columns, *sorted(set(parts) - set(columns))]


@contextmanager
def two_databases(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'created.db'}"
        return
    with throwaway_pg_database() as migrated, throwaway_pg_database() as created:
        yield migrated, created


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def test_a_database_created_from_the_models_is_the_migrated_one(
    kind: str, tmp_path: Path
) -> None:
    with two_databases(kind, tmp_path) as (migrated, created):
        command.upgrade(migrations.config(migrated), "head")  # Alembic, revision by revision
        engine = make_engine(created)
        try:
            with engine.begin() as conn:
                migrations.create_at_head(conn)
        finally:
            engine.dispose()
        expected = layout(migrated)
        assert len(expected) > 50  # the catalog was read: 13 tables, their indexes...
        assert layout(created) == expected


def test_a_new_sqlite_database_is_created_from_the_models_once(sqlite_url: str) -> None:
    with ThreadPoolExecutor(3) as pool:  # three engines; one creates, the others find it
        list(pool.map(migrations._up_to_date, [sqlite_url] * 3))
    assert tables(sqlite_url) == TABLES
    assert [row for row in layout(sqlite_url) if row[0] == "version"] == [
        ("version", migrations.HEAD)
    ]
    assert migrations._up_to_date(sqlite_url)


def test_an_sqlite_database_with_tables_is_left_to_alembic(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE other (id INTEGER)"))
    engine.dispose()
    assert not migrations._up_to_date(sqlite_url)
    assert tables(sqlite_url) == {"other"}
