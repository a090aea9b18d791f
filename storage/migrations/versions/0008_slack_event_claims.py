"""Slack events are claimed before they are handled, and marked handled after

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A retry that arrives while the first delivery is still being handled finds the claim and is
dropped; ``handled_at`` stays null until the handler is done. Rows from before were recorded
once handled.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_events_seen") as batch:
        batch.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE slack_events_seen SET handled_at = created_at")


def downgrade() -> None:
    op.execute("DELETE FROM slack_events_seen WHERE handled_at IS NULL")
    with op.batch_alter_table("slack_events_seen") as batch:
        batch.drop_column("handled_at")
