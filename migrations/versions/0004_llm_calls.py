"""LLM escalations: every call stored; an alert may get one follow-up message per channel.

Revision ID: 0004_llm_calls
Revises: 0003_entry_outcomes
Create Date: 2026-12-02

`llm_calls` keeps each escalation's fingerprint, model, tokens, latency, cost, outcome
and verdict. `outbox.kind` tells the alert's own message ("alert") from the one
follow-up a later verdict sends ("review"); uniqueness moves to (alert, channel, kind).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_llm_calls"
down_revision: str | None = "0003_entry_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "llm_calls",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("anomaly_id", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_llm_calls"),
    )
    op.create_index("ix_llm_calls_anomaly_id", "llm_calls", ["anomaly_id"])
    op.create_index("ix_llm_calls_fingerprint", "llm_calls", ["fingerprint"])
    op.create_index("ix_llm_calls_created_at", "llm_calls", ["created_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="alert")
        )
        batch.drop_constraint("uq_outbox_alert_id_channel", type_="unique")
        batch.create_unique_constraint(
            "uq_outbox_alert_id_channel_kind", ["alert_id", "channel", "kind"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind <> 'alert'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_alert_id_channel_kind", type_="unique")
        batch.create_unique_constraint("uq_outbox_alert_id_channel", ["alert_id", "channel"])
        batch.drop_column("kind")
    op.drop_table("llm_calls")
