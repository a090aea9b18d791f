"""Model objects for Block Kit tests, and the customer text that must never ping or link."""

from datetime import UTC, datetime

from storage.models import Escalation, Priority, Reason, Status

EVIL = "<!channel> <https://evil.example|your bank> & <@U0BOSS>"
NOW = datetime(2026, 3, 12, 10, 0, tzinfo=UTC)


def escalation(**overrides: object) -> Escalation:
    values: dict[str, object] = {
        "id": "esc_01TEST",
        "platform_id": "plt_1",
        "conversation_id": "conv_1",
        "status": Status.queued,
        "priority": Priority.high,
        "reason": Reason.gate_failure,
        "reason_detail": "3x gate failure",
        "channel": "whatsapp",
        "customer": {"id": "cust_19", "name": "Nguyen Van A"},
        "created_at": NOW,
        "updated_at": NOW,
        "last_message_preview": "Tôi muốn khiếu nại...",
    }
    values.update(overrides)
    return Escalation(**values)
