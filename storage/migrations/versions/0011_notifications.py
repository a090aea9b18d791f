"""Notifications beyond the card: outbox lanes and two more topics

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A notification goes to one subscriber (an email entry, a webhook): its rows are kept in
order per escalation *and* subscriber, so a subscriber that is down holds up only its own.
That is the row's ``lane`` ('' for the card's and the platform's rows, which keep their one
order per escalation). The claim's lookup of an escalation's oldest pending row now keys on
the lane too. Notifications are drained as topic ``notify``; events waiting for an hourly
email wait as topic ``hourly``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PENDING = "state = 'pending'"
TOPICS = ("notify", "hourly")


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("lane", sa.String(), nullable=False, server_default=sa.text("''"))
    )
    op.drop_index("ix_outbox_pending_escalation", table_name="outbox")
    _pending_by_escalation(["topic", "escalation_id", "lane", "id"])
    for topic in TOPICS:
        predicate = sa.text(f"{PENDING} AND topic = '{topic}'")
        op.create_index(
            f"ix_outbox_pending_{topic}",
            "outbox",
            ["id"],
            sqlite_where=predicate,
            postgresql_where=predicate,
        )


def downgrade() -> None:
    for topic in TOPICS:
        op.drop_index(f"ix_outbox_pending_{topic}", table_name="outbox")
    op.drop_index("ix_outbox_pending_escalation", table_name="outbox")
    _pending_by_escalation(["topic", "escalation_id", "id"])
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lane")


def _pending_by_escalation(columns: list[str]) -> None:
    op.create_index(
        "ix_outbox_pending_escalation",
        "outbox",
        columns,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
