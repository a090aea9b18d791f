"""App Home state per user, the change mark homes are refreshed by, and search indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

On PostgreSQL the search indexes are pg_trgm GIN indexes (they serve ILIKE '%text%'). The
extension ships with PostgreSQL's contrib and is "trusted" since PostgreSQL 13, so a
database owner may create it; where it cannot be had, search still works, unindexed.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
TRIGRAM_INDEXES = (
    ("messages", "content"),
    ("escalations", "customer_name"),
    ("escalations", "reason_detail"),
)


def upgrade() -> None:
    op.create_table(
        "slack_homes",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("view_hash", sa.String(), nullable=True),
        sa.Column("seen_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settle_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_publish_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_slack_homes_opened_at", "slack_homes", ["opened_at"])
    op.create_index("ix_slack_homes_next_publish_at", "slack_homes", ["next_publish_at"])
    op.create_index("ix_escalations_updated_at", "escalations", ["updated_at"])
    if op.get_bind().dialect.name == "postgresql" and _trigram_available():
        for table, column in TRIGRAM_INDEXES:
            op.create_index(
                f"ix_{table}_{column}_trgm",
                table,
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def _trigram_available() -> bool:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm is not available (%s): search runs without an index", exc.orig)
        return False
    return True


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
    op.drop_index("ix_escalations_updated_at", table_name="escalations")
    op.drop_index("ix_slack_homes_next_publish_at", table_name="slack_homes")
    op.drop_index("ix_slack_homes_opened_at", table_name="slack_homes")
    op.drop_table("slack_homes")
