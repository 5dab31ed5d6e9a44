"""On SQLite, the ledger holds the range of each batch's outcome rows; they are no longer
indexed by their batch.

Revision ID: 0011_outcome_rows_by_range
Revises: 0010_ledger_ids_bytewise
Create Date: 2026-12-05

Every delivered entry writes one `entry_outcomes` row, and on SQLite every index on it is
one more B-tree written per entry: the batch index was about a fifth of the SQLite work of
a batch's outcome rows. It served the audit and the pruning, which on SQLite now find a
batch's rows by the rowids of its first and last one, kept in its ledger row (a batch's
rows are written in one transaction, so their rowids are consecutive). Existing batches
take the range of their rows, found by the batch index before it goes. Postgres keeps the
index; the two columns stay NULL there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_outcome_rows_by_range"
down_revision: str | None = "0010_ledger_ids_bytewise"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANGE = ("first_outcome_row", "last_outcome_row")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Rebuilt on SQLite (the ledger: a row per batch), so that its table reads as one
    # created at head does; two columns added in place on Postgres.
    with op.batch_alter_table("processed_batches",
                              recreate="always" if sqlite else "auto") as batch:
        for name in RANGE:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
    if not sqlite:
        return
    rows = "FROM entry_outcomes AS o WHERE o.batch_id = processed_batches.batch_id"
    op.execute(f"UPDATE processed_batches SET first_outcome_row = (SELECT min(o.rowid) {rows}), "
               f"last_outcome_row = (SELECT max(o.rowid) {rows})")
    op.drop_index("ix_entry_outcomes_batch_id", table_name="entry_outcomes")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_entry_outcomes_batch_id", "entry_outcomes", ["batch_id"])
    with op.batch_alter_table("processed_batches") as batch:
        for name in RANGE:
            batch.drop_column(name)
