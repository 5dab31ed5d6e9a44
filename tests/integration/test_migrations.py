"""Migrations on SQLite and Postgres: up, down, up again, and the result is the models."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

import migrations
from pipeline.storage import Base, make_engine

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
            context = MigrationContext.configure(conn, opts={"compare_type": True})
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
    assert schema_diff(db_url, Base.metadata) == []


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
    assert schema_diff(pg_url, Base.metadata) == []


def test_threads_upgrading_at_once_do_not_trip_over_alembic(sqlite_url: str) -> None:
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(migrations.upgrade, [sqlite_url] * 3))  # re-raises any failure
    assert tables(sqlite_url) == TABLES


def test_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.config("sqlite://"))
    assert script.get_current_head() == migrations.HEAD


def test_a_database_at_head_is_not_migrated_again(sqlite_url: str) -> None:
    # Whether upgrading needed Alembic: a new database does, one at head does not.
    code = ("import sys, migrations; migrations.upgrade(sys.argv[1]); "
            "print('alembic' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, sqlite_url], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]
    assert schema_diff(sqlite_url, Base.metadata) == []
