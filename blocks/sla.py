"""SLA alerts: at risk or breached, in the thread; a breach for managers and the owner."""

from datetime import datetime

from slack_sdk.models.blocks import SectionBlock

from blocks.card import CardMessage, customer_name, mention, reason_label, slack_date
from blocks.slack_text import escaped, plain
from storage.models import Escalation

TARGET_NAMES = {"first_take": "first take", "resolution": "resolution"}


def target_name(target: str) -> str:
    return TARGET_NAMES.get(target, target)


def escalation_subject(esc: Escalation) -> str:
    return f"{escaped(customer_name(esc), 200)} ({reason_label(esc)}, {esc.priority})"


def sla_alert(
    esc: Escalation, target: str, breached: bool, due: datetime, oncall_group: str | None
) -> CardMessage:
    """In the escalation's thread; an at-risk alert calls the on-call group."""
    name, when = target_name(target), slack_date(due)
    if breached:
        text = f":rotating_light: *SLA breached*: the {name} was due {when}."
    else:
        text = f":warning: *SLA at risk*: the {name} is due {when}."
        if oncall_group:
            text += f" <!subteam^{oncall_group}> can someone take this?"
    if esc.assignee_id and breached:
        text += f" Owner: {mention(esc.assignee_id, esc.assignee_name)}."
    fallback = ("SLA breached" if breached else "SLA at risk") + f": {name}"
    return CardMessage(text=plain(fallback), blocks=[SectionBlock(text=text)])


def sla_breach_for_managers(
    esc: Escalation, target: str, due: datetime, card_link: str | None
) -> CardMessage:
    owner = (
        f"Owner: {mention(esc.assignee_id, esc.assignee_name)}."
        if esc.assignee_id
        else "Nobody has taken it."
    )
    subject, when = escalation_subject(esc), slack_date(due)
    what = f"*SLA breached*: {subject}: the {target_name(target)} was due {when}."
    return _breach(esc, f"{what} {owner}", card_link)


def sla_breach_for_owner(
    esc: Escalation, target: str, due: datetime, card_link: str | None
) -> CardMessage:
    subject, when = escalation_subject(esc), slack_date(due)
    what = f"The {target_name(target)} of your escalation {subject} was due {when}."
    return _breach(esc, what, card_link)


def _breach(esc: Escalation, what: str, card_link: str | None) -> CardMessage:
    where = f" <{card_link}|Open the card>" if card_link else ""
    return CardMessage(
        text=plain(f"SLA breached: {customer_name(esc)}"),
        blocks=[SectionBlock(text=f":rotating_light: {what}{where}")],
    )
