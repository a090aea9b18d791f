"""the daily digest's claim per day, the owner's quiet clock, indexes for a day's counts
and for forgetting delivered outbox rows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_owner_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_escalations_awaiting_owner_since", ["awaiting_owner_since"], unique=False
        )
        batch_op.create_index("ix_escalations_first_taken_at", ["first_taken_at"], unique=False)
    op.create_index("ix_events_type_created", "events", ["type", "created_at"], unique=False)
    op.create_index("ix_outbox_done", "outbox", ["state", "done_at"], unique=False)
    op.create_table(
        "digest_runs",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("digest_runs")
    op.drop_index("ix_outbox_done", table_name="outbox")
    op.drop_index("ix_events_type_created", table_name="events")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index("ix_escalations_first_taken_at")
        batch_op.drop_index("ix_escalations_awaiting_owner_since")
        batch_op.drop_column("awaiting_owner_since")
