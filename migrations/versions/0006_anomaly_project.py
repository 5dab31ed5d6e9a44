"""Anomalies keep their project in a column of its own, indexed with their start.

Revision ID: 0006_anomaly_project
Revises: 0005_incidents
Create Date: 2026-12-02

A tenant's API reads are scoped to its projects. Read from the stream key, the scope
made Postgres walk every project's anomalies, newest first, until it had a page of the
tenant's: the fewer a tenant has, the longer the walk. With `project` and the index on
(project, start_ns) a page costs the same for every tenant. Existing rows take the
project from their stream key (`project/resource_type/service`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_anomaly_project"
down_revision: str | None = "0005_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.add_column(sa.Column("project", sa.String(256), nullable=True))
    first_part = ("split_part(stream, '/', 1)" if op.get_bind().dialect.name == "postgresql"
                  else "substr(stream, 1, instr(stream, '/') - 1)")
    op.execute(f"UPDATE anomalies SET project = {first_part}")
    with op.batch_alter_table("anomalies") as batch:
        batch.alter_column("project", existing_type=sa.String(256), nullable=False)
        batch.create_index("ix_anomalies_project_start_ns", ["project", "start_ns"])


def downgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_index("ix_anomalies_project_start_ns")
        batch.drop_column("project")
