"""escalations carry their SLA due times, alert levels and next check

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_take_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("first_take_sla_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("resolution_sla_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("sla_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_escalations_sla_check_at", ["sla_check_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalations_sla_check_at")
        for column in (
            "sla_check_at",
            "resolution_sla_level",
            "first_take_sla_level",
            "resolution_due_at",
            "first_take_due_at",
        ):
            batch_op.drop_column(column)
