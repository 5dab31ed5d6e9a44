"""Alembic environment: the URL comes from `Config.attributes`, the engine from the store."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from pipeline.storage.db import make_engine, normalize_url
from pipeline.storage.models import METADATA, made_on

# Any constant will do: it only has to be the same for every Logwarden process.
MIGRATION_LOCK_ID = 0x6C6F6777  # "logw"

target_metadata = METADATA


def _url() -> str:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: call migrations.upgrade(url) or set sqlalchemy.url")
    return normalize_url(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=lambda item, _name, _kind, reflected, _other: (
            reflected or made_on(item, connection.dialect.name)),
    )


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Several processes may start at once; one migrates, the others wait.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
