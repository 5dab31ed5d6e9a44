"""Incidents remember when an anomaly last joined them, by the clock of the process.

Revision ID: 0007_incident_activity
Revises: 0006_anomaly_project
Create Date: 2026-12-02

An incident resolves after a quiet period. Measured in log time alone, a backfill of
last week's logs looked quiet to the fleet's wall clock at once: every batch opened and
resolved an incident of its own. `active_at` is when an anomaly last joined the
incident, by the store's clock (the wall clock in the fleet, the log clock in a replay);
an incident resolves only when both have been quiet. Existing rows start from `opened_at`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_incident_activity"
down_revision: str | None = "0006_anomaly_project"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("active_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE alerts SET active_at = opened_at")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("active_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("active_at")
