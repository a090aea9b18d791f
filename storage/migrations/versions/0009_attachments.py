"""Files crossing between Slack and the customer

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

One row per file, either way: an agent's file in Slack relayed to the customer through
Baton's signed link, or a customer's attachment uploaded into the card's thread.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("escalation_id", sa.String(), sa.ForeignKey("escalations.id"), nullable=False),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("mime_type", sa.String(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("source_url", sa.String(), nullable=False),
        sa.Column("slack_file_id", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_attachments_escalation_id", "attachments", ["escalation_id"])


def downgrade() -> None:
    op.drop_index("ix_attachments_escalation_id", table_name="attachments")
    op.drop_table("attachments")
