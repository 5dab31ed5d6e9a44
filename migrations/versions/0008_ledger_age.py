"""The batch ledger is indexed by when each batch was recorded, so old batches prune cheaply.

Revision ID: 0008_ledger_age
Revises: 0007_incident_activity
Create Date: 2026-12-02

The ledger and the entry outcomes grow with every batch; beat prunes what is older than
`accounting_retention_days`, a chunk of batches at a time, found by this index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_ledger_age"
down_revision: str | None = "0007_incident_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_processed_batches_created_at", "processed_batches", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_processed_batches_created_at", table_name="processed_batches")
