"""On SQLite, the entry outcomes are no longer indexed by their time.

Revision ID: 0009_outcomes_age_postgres_only
Revises: 0008_ledger_age
Create Date: 2026-12-02

Every delivered entry writes one `entry_outcomes` row, and on SQLite every index on it is
one more B-tree written per entry (the embedded run records a batch in one SQLite
transaction). The time index served only the audit, which on SQLite now finds a window's
rows through the ledger's batches (their rows share the batch's time) by the batch index.
Postgres keeps it. The rows themselves are untouched.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_outcomes_age_postgres_only"
down_revision: str | None = "0008_ledger_age"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_entry_outcomes_created_at", table_name="entry_outcomes")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_entry_outcomes_created_at", "entry_outcomes", ["created_at"])
