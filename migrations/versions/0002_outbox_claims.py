"""Outbox claims: a message is claimed just before it is sent, for a bounded lease.

Revision ID: 0002_outbox_claims
Revises: 0001
Create Date: 2026-12-02

`claimed_until` is set when a sender claims the message and cleared when it records the
outcome; a claim still set after its lease means the sender stopped before recording.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_outbox_claims"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
