"""The initial schema: ledger, dead letters, templates, anomalies, alerts, outbox, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Portable: runs unchanged on SQLite and Postgres. Constraint and index names follow the
naming convention of `pipeline.storage.models` so later revisions can refer to them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite rowid aliases must be spelled INTEGER to autoincrement.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "processed_batches",
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_processed_batches"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason"])
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])

    op.create_table(
        "templates",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_templates"),
    )
    op.create_table(
        "template_lineage",
        sa.Column("old_id", sa.String(128), nullable=False),
        sa.Column("new_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("old_id", name="pk_template_lineage"),
    )
    op.create_index("ix_template_lineage_new_id", "template_lineage", ["new_id"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("window_start_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("anomaly_type", sa.String(64), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("anomaly_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint(
            "fingerprint", "window_start_ns", name="uq_alerts_fingerprint_window_start_ns"
        ),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_index("ix_alerts_last_seen_ns", "alerts", ["last_seen_ns"])

    op.create_table(
        "anomalies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("anomaly_type", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("lead_template_id", sa.String(128), nullable=True),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_anomalies"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_anomalies_alert_id_alerts", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_anomalies_batch_id", "anomalies", ["batch_id"])
    op.create_index("ix_anomalies_start_ns", "anomalies", ["start_ns"])
    op.create_index("ix_anomalies_fingerprint", "anomalies", ["fingerprint"])
    op.create_index("ix_anomalies_alert_id", "anomalies", ["alert_id"])
    op.create_index("ix_anomalies_service_start_ns", "anomalies", ["service", "start_ns"])
    op.create_index("ix_anomalies_severity_start_ns", "anomalies", ["severity", "start_ns"])

    op.create_table(
        "outbox",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("alert_id", "channel", name="uq_outbox_alert_id_channel"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_outbox_alert_id_alerts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("outbox_id", AUTO_ID, nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name="fk_deliveries_outbox_id_outbox", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_deliveries_alert_id_alerts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_deliveries_outbox_id", "deliveries", ["outbox_id"])
    op.create_index("ix_deliveries_alert_id", "deliveries", ["alert_id"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before the tables they refer to.
    for table in (
        "deliveries",
        "outbox",
        "anomalies",
        "alerts",
        "template_lineage",
        "templates",
        "dead_letters",
        "processed_batches",
    ):
        op.drop_table(table)
