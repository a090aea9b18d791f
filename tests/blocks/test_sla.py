"""SLA alerts: who they call, what they link to, and customer text kept inert."""

import json
from datetime import timedelta

from blocks.sla import sla_alert, sla_breach_for_managers, sla_breach_for_owner
from storage.models import Status
from tests.blocks.models import EVIL, NOW
from tests.blocks.models import escalation as _escalation

DUE = NOW + timedelta(minutes=15)


def _all(message: object) -> str:
    return json.dumps(message.blocks_as_dicts()) + message.text  # type: ignore[attr-defined]


def test_at_risk_calls_the_on_call_group_and_a_breach_names_the_owner() -> None:
    esc = _escalation()
    assert "<!subteam^S0ONCALL>" in _all(sla_alert(esc, "first_take", False, DUE, "S0ONCALL"))
    assert "subteam" not in _all(sla_alert(esc, "first_take", False, DUE, None))
    owned = _escalation(status=Status.taken, assignee_id="U0ANN", assignee_name="Ann")
    breach = _all(sla_alert(owned, "resolution", True, DUE, "S0ONCALL"))
    assert "SLA breached" in breach and "<@U0ANN>" in breach and "subteam" not in breach


def test_breach_posts_link_to_the_card_and_keep_customer_text_inert() -> None:
    esc = _escalation(customer={"id": "c", "name": EVIL})
    link = "https://acme.slack.com/archives/C1/p1700000000000100"
    for message in (
        sla_breach_for_managers(esc, "first_take", DUE, link),
        sla_breach_for_owner(esc, "first_take", DUE, link),
    ):
        text = _all(message)
        assert f"<{link}|Open the card>" in text
        assert "<!channel>" not in text and "<@U0BOSS>" not in text
        assert "&lt;!channel&gt;" in text
    assert "Open the card" not in _all(sla_breach_for_managers(esc, "first_take", DUE, None))
