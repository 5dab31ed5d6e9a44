"""Shared fixtures: empty databases (SQLite file, throwaway Postgres database), migrated
ones shared by a module and emptied before each test (much faster), and a Pub/Sub stand-in.

Postgres is expected on 127.0.0.1:5432 (trust auth, user `postgres`); set
LOGWARDEN_TEST_POSTGRES to a server's admin URL to use another. When it is down,
the Postgres tests fail loudly rather than skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

import migrations
from pipeline.storage import METADATA, make_engine
from tests.standins.pubsub import PubSubStandIn

ADMIN_URL = os.environ.get(
    "LOGWARDEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'logwarden.db'}"


@contextmanager
def throwaway_pg_database(icu_locale: str | None = None) -> Iterator[str]:
    """Creates a uniquely named, empty Postgres database (collated by `icu_locale`, when
    given, as managed databases often are; else by the server's default); drops it on exit."""
    name = f"logwarden_test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if icu_locale is not None:
        create += sql.SQL(" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE {}").format(
            sql.Literal(icu_locale))
    _admin(create)
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        # FORCE: a pool a test forgot to dispose must not keep the database alive.
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A uniquely named, empty Postgres database (psycopg 3 URL), dropped afterwards."""
    with throwaway_pg_database() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)],
)
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind Logwarden runs on: SQLite, then Postgres."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)],
)
def _module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'logwarden.db'}"
        migrations.upgrade(url)
        yield url
        return
    with throwaway_pg_database() as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture
def migrated_db_url(_module_database: str) -> str:
    """A database at the head revision with every table empty, on SQLite and on Postgres."""
    engine = make_engine(_module_database)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(t.name for t in METADATA.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(METADATA.sorted_tables):
                    conn.execute(table.delete())
    finally:
        engine.dispose()
    return _module_database


@pytest.fixture
def standin(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PubSubStandIn]:
    """The gRPC Pub/Sub stand-in, for clients built in the test (PUBSUB_EMULATOR_HOST);
    parametrize it indirectly with PubSubStandIn's keywords."""
    with PubSubStandIn(**getattr(request, "param", {})) as server:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", server.host)
        yield server
