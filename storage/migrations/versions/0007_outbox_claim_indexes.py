"""indexes that keep the outbox claim's plan good without planner statistics

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

The claim (``storage.outbox.deliveries.claim_due``) walks a topic's pending rows in id order
(``ix_outbox_pending_<topic>``) and, for each, looks up its escalation's oldest pending row
(``ix_outbox_pending_escalation``). Both are partial, so rows already delivered or parked
cost them nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PENDING = "state = 'pending'"
TOPICS = ("slack", "platform")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_pending_escalation",
        "outbox",
        ["topic", "escalation_id", "id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
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
