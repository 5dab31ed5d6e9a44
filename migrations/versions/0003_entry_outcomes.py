"""Entry outcomes: every delivery counted once, duplicates kept in the database.

Revision ID: 0003_entry_outcomes
Revises: 0002_outbox_claims
Create Date: 2026-12-02

`entry_outcomes` holds one row per delivery a recorded batch counted (processed or
duplicate), with the insert key of each processed entry unique: duplicate claims survive
a Redis restart, and the sum processed + duplicates + dead letters is checkable from
Postgres alone. Dead letters get an index on `source`, where a failed batch names itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_entry_outcomes"
down_revision: str | None = "0002_outbox_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entry_outcomes",
        sa.Column("delivery_id", sa.String(256), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("insert_key", sa.String(640), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_entry_outcomes"),
        sa.UniqueConstraint("insert_key", name="uq_entry_outcomes_insert_key"),
    )
    op.create_index("ix_entry_outcomes_batch_id", "entry_outcomes", ["batch_id"])
    op.create_index("ix_entry_outcomes_created_at", "entry_outcomes", ["created_at"])
    op.create_index("ix_dead_letters_source", "dead_letters", ["source"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_source", "dead_letters")
    op.drop_table("entry_outcomes")
