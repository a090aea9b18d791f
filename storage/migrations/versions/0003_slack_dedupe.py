"""Slack events seen (retries are dropped) and one message per Slack ts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_events_seen",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_slack_events_seen_created_at", "slack_events_seen", ["created_at"])
    op.create_index(
        "uq_messages_slack_ts",
        "messages",
        ["escalation_id", "slack_ts"],
        unique=True,
        sqlite_where=sa.text("slack_ts IS NOT NULL"),
        postgresql_where=sa.text("slack_ts IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_messages_slack_ts", table_name="messages")
    op.drop_index("ix_slack_events_seen_created_at", table_name="slack_events_seen")
    op.drop_table("slack_events_seen")
