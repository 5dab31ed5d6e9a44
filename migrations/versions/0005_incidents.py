"""Incidents replace epoch-window alerts; messages are per revision; silences; feedback.

Revision ID: 0005_incidents
Revises: 0004_llm_calls
Create Date: 2026-12-02

An `alerts` row is now an incident: no window, but a `group_key` (its stream or
service) with at most one open incident per key (a partial unique index), its lifecycle
(acknowledged, resolved: when and by whom), the anomaly types, evidence and sample lines
it gathered, and the `revision` of its latest message. Outbox rows are one message per
(incident, receiver, revision), rendered from the incident when sent, with the thread
reference the receiver returned. Anomalies keep their sample lines. `silences` mute
matching incidents for a while; `feedback` records "expected" / "false positive".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_incidents"
down_revision: str | None = "0004_llm_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("status <> 'resolved'")


def utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _incidents()
    _outbox()
    with op.batch_alter_table("anomalies") as batch:
        batch.add_column(sa.Column("samples", sa.JSON(), nullable=True))
    _silences_and_feedback()


def _incidents() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("uq_alerts_fingerprint_window_start_ns", type_="unique")
        batch.drop_column("window_start_ns")
        for name, kind, default in (
            ("group_key", sa.String(640), "''"), ("project", sa.String(256), "''"),
            ("service", sa.String(256), "''"), ("anomaly_types", sa.JSON(), "'[]'"),
            ("details", sa.JSON(), "'[]'"), ("samples", sa.JSON(), "'[]'"),
            ("revision", sa.Integer(), "1"),
        ):
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=sa.text(default)))
        batch.add_column(sa.Column("lead_template_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("opened_at", utc(), nullable=False,
                                   server_default=sa.func.current_timestamp()))
        batch.add_column(sa.Column("acknowledged_at", utc(), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(256), nullable=True))
        batch.add_column(sa.Column("resolved_at", utc(), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(256), nullable=True))
    # Alerts of the windowed kind become resolved incidents of their own (each its own key).
    op.execute("UPDATE alerts SET group_key = id, status = 'resolved'")
    with op.batch_alter_table("alerts") as batch:
        for name in ("group_key", "project", "service", "anomaly_types", "details", "samples",
                     "revision", "opened_at"):
            batch.alter_column(name, server_default=None)
    op.create_index("uq_alerts_open_group_key", "alerts", ["group_key"], unique=True,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_alerts_service_status", "alerts", ["service", "status"])
    op.create_index("ix_alerts_project", "alerts", ["project"])


def _outbox() -> None:
    op.execute("UPDATE outbox SET kind = 'firing' WHERE kind = 'alert'")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False,
                                   server_default=sa.text("1")))
        batch.add_column(sa.Column("thread_ref", sa.String(512), nullable=True))
        batch.alter_column("kind", server_default="firing")
        batch.drop_constraint("uq_outbox_alert_id_channel_kind", type_="unique")
    # A review follow-up was the second message of its channel.
    op.execute("UPDATE outbox SET revision = 2 WHERE kind = 'review'")
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint(
            "uq_outbox_alert_id_channel_revision", ["alert_id", "channel", "revision"]
        )


def _silences_and_feedback() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("project", sa.String(256), nullable=True),
        sa.Column("starts_at", utc(), nullable=False),
        sa.Column("ends_at", utc(), nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_project", "silences", ["project"])
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.create_table(
        "feedback",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=True),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("template_id", sa.String(128), nullable=True),
        sa.Column("anomaly_type", sa.String(64), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("suppress", sa.Boolean(), nullable=False),
        sa.Column("expires_at", utc(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_alert_id", "feedback", ["alert_id"])
    op.create_index("ix_feedback_stream_template_id", "feedback", ["stream", "template_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("silences")
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_column("samples")
    op.execute("DELETE FROM outbox WHERE revision > 1 AND kind <> 'review'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_alert_id_channel_revision", type_="unique")
        batch.drop_column("thread_ref")
        batch.drop_column("revision")
        batch.alter_column("kind", server_default="alert")
    op.execute("UPDATE outbox SET kind = 'alert' WHERE kind <> 'review'")
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint(
            "uq_outbox_alert_id_channel_kind", ["alert_id", "channel", "kind"]
        )
    op.drop_index("ix_alerts_project", "alerts")
    op.drop_index("ix_alerts_service_status", "alerts")
    op.drop_index("uq_alerts_open_group_key", "alerts")
    with op.batch_alter_table("alerts") as batch:
        for name in ("resolved_by", "resolved_at", "acknowledged_by", "acknowledged_at",
                     "opened_at", "lead_template_id", "revision", "samples", "details",
                     "anomaly_types", "service", "project", "group_key"):
            batch.drop_column(name)
        # Incidents have no window: each becomes the window of its first sighting.
        batch.add_column(sa.Column("window_start_ns", sa.BigInteger(), nullable=False,
                                   server_default="0"))
    op.execute("UPDATE alerts SET window_start_ns = first_seen_ns")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("window_start_ns", server_default=None)
        batch.create_unique_constraint(
            "uq_alerts_fingerprint_window_start_ns", ["fingerprint", "window_start_ns"]
        )
