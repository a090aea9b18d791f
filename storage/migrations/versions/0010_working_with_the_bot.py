"""Working with the bot: summary, suggestions, resuming its AI, ratings, conversation counts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``summary`` is given at creation; ``ai_resumed_at`` and ``ai_resumed_by`` say when and by
whom an escalation closed with the AI kept paused handed the conversation back to the AI;
``rating_*`` and ``rated_at`` keep the customer's latest rating (indexed for the digest).
``suggestions`` keeps the bot's drafted replies and whether they were sent.
``conversation_counts`` holds how many conversations each platform's bot had per day, for
the escalation rate. ``customer_wrote_at`` is when the customer last wrote, for closing
escalations whose customer went quiet.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("summary", sa.String(), nullable=True))
        batch.add_column(sa.Column("ai_resumed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ai_resumed_by", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rating_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating_comment", sa.String(), nullable=True))
        batch.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("customer_wrote_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_escalations_rated_at", "escalations", ["rated_at"])
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("escalation_id", sa.String(), sa.ForeignKey("escalations.id"), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("markdown", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slack_ts", sa.String(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_by", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(), nullable=True),
    )
    op.create_index("ix_suggestions_escalation_id", "suggestions", ["escalation_id"])
    op.create_table(
        "conversation_counts",
        sa.Column("platform_id", sa.String(), sa.ForeignKey("platforms.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("conversation_counts")
    op.drop_index("ix_suggestions_escalation_id", table_name="suggestions")
    op.drop_table("suggestions")
    op.drop_index("ix_escalations_rated_at", table_name="escalations")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("customer_wrote_at")
        batch.drop_column("rated_at")
        batch.drop_column("rating_comment")
        batch.drop_column("rating_score")
        batch.drop_column("ai_resumed_by")
        batch.drop_column("ai_resumed_at")
        batch.drop_column("summary")
