"""On Postgres, the ledger's ids are compared byte by byte (collation "C").

Revision ID: 0010_ledger_ids_bytewise
Revises: 0009_outcomes_age_postgres_only
Create Date: 2026-12-04

Every delivered entry is looked up by its delivery id and insert key, and written into
their unique indexes. These are opaque ids, yet under the database's collation each
comparison was a locale-aware one: on a database created with a language's collation
(en_US, ICU) that was two fifths of the Postgres CPU of a batch's ledger work. The
indexes are rebuilt (the table is locked meanwhile); the rows are untouched. SQLite
compares bytes already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ledger_ids_bytewise"
down_revision: str | None = "0009_outcomes_age_postgres_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("processed_batches", "batch_id", 64),
    ("entry_outcomes", "delivery_id", 256),
    ("entry_outcomes", "batch_id", 64),
    ("entry_outcomes", "insert_key", 640),
)


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate(None)


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length, collation=collation))
