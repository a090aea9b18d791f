"""Notification emails as a support lead reads them: what each event says, what customers'
names and messages cannot do to the email (escape the HTML, forge a header, break the
encoding), and operators' templates that are refused, warned about or stood in for."""

import email
import email.policy
import logging
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest

from blocks import email as notifications
from blocks.email import (
    EVENT_TYPES,
    EmailTemplates,
    Notice,
    RenderedEmail,
    TemplateProblem,
    TranscriptLine,
    cut,
    email_message,
)
from storage.models import Escalation, Priority, Status
from storage.notifications import EVENTS
from storage.public import escalation_public, iso
from tests.blocks.models import NOW, escalation

CARD = "https://acme.slack.com/archives/C0ESC/p1741773600000100"
MINH = {"id": "U0MINH", "name": "Minh"}
HOSTILE = "<script>alert(\"x\")</script> & 'Tom' <b>"
SENDER = "Baton <baton@acme.example>"
TO = ["support-leads@acme.example"]
START = datetime(2026, 3, 12, 10, 0, tzinfo=UTC)
TAGS = re.compile(r"<[^>]+>")


def _escalation(event_type: str, **overrides: Any) -> Escalation:
    values: dict[str, Any] = {
        "summary": "Wants a refund for order #1234.",
        "first_take_due_at": NOW + timedelta(minutes=15),
        "resolution_due_at": NOW + timedelta(hours=4),
    }
    if event_type != "escalation.created":
        values.update(status=Status.taken, assignee_id="U0MINH", assignee_name="Minh", taken_at=NOW)
    if event_type in ("escalation.returned", "escalation.closed"):
        values.update(status=Status(event_type.split(".")[1]), ended_at=NOW)
    values.update(overrides)
    return escalation(**values)


EXTRAS: dict[str, dict[str, Any]] = {
    "escalation.created": {"customer_message": "Someone will be with you shortly."},
    "escalation.taken": {"agent": MINH, "customer_message": "Hi, I'm Minh."},
    "escalation.returned": {"customer_message": "The assistant is back."},
    "escalation.closed": {
        "resolution": "customer_satisfied",
        "note": "Refund sent; customer happy.",
        "keep_ai_paused": True,
    },
    "sla.at_risk": {"target": "first_take", "due_at": iso(NOW + timedelta(minutes=15))},
    "sla.breached": {"target": "resolution", "due_at": iso(NOW + timedelta(hours=4))},
}


def notice(
    event_type: str,
    *,
    esc: Escalation | None = None,
    transcript: tuple[TranscriptLine, ...] = (),
    card_link: str | None = CARD,
    extras: dict[str, Any] | None = None,
    **overrides: Any,
) -> Notice:
    """A notice as the relay would hand it over: the real event body of a real escalation."""
    esc = esc or _escalation(event_type, **overrides)
    body = {
        "type": event_type,
        "timestamp": iso(NOW),
        "data": {
            "escalation_id": esc.id,
            "conversation_id": esc.conversation_id,
            "escalation": escalation_public(esc),
            **EXTRAS[event_type],
            **(extras or {}),
        },
    }
    return Notice(body, card_link, transcript)


def customer(name: str | None) -> dict[str, Any]:
    return {"id": "cust_19", "name": name}


def sent(rendered: RenderedEmail) -> EmailMessage:
    """The email as a mail client gets it: serialized to bytes and parsed back."""
    raw = email_message(rendered, sender=SENDER, to=TO).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = (part.get_content() for part in message.iter_parts())
    return plain, html


@pytest.fixture(scope="module")
def templates() -> EmailTemplates:
    return EmailTemplates()


# What each event says -------------------------------------------------------------------

EXPECTED = {
    "escalation.created": (
        "New escalation: Nguyen Van A (high)",
        "New escalation from Nguyen Van A: waiting for someone to take it.",
    ),
    "escalation.taken": (
        "Taken by Minh: Nguyen Van A (high)",
        "Minh took the escalation of Nguyen Van A.",
    ),
    "escalation.returned": (
        "Returned to the bot: Nguyen Van A (high)",
        "The escalation of Nguyen Van A was returned to the bot by Minh.",
    ),
    "escalation.closed": (
        "Closed (customer satisfied): Nguyen Van A (high)",
        "The escalation of Nguyen Van A was closed by Minh: Customer satisfied.",
    ),
    "sla.at_risk": (
        "SLA at risk: first take for Nguyen Van A (high)",
        "SLA at risk: the first take of Nguyen Van A's escalation is due 12 Mar 2026 10:15 UTC.",
    ),
    "sla.breached": (
        "SLA breached: resolution for Nguyen Van A (high)",
        "SLA breached: the resolution of Nguyen Van A's escalation was due 12 Mar 2026 14:00 UTC.",
    ),
}


@pytest.mark.parametrize("event_type", list(EXPECTED))
def test_each_event_has_its_subject_and_its_line(
    templates: EmailTemplates, event_type: str
) -> None:
    subject, line = EXPECTED[event_type]
    rendered = templates.notification(notice(event_type))
    assert rendered.subject == subject
    assert rendered.text.startswith(line + "\n")
    assert line in " ".join(unescape(TAGS.sub("", rendered.html)).split())


def test_a_closing_shows_its_note_and_that_the_bot_stays_paused(templates: EmailTemplates) -> None:
    rendered = templates.notification(notice("escalation.closed"))
    for body in (rendered.text, rendered.html):
        assert "Note: Refund sent; customer happy." in body
        assert "The bot stays paused for this conversation." in body


def test_an_urgent_breach_names_the_target_and_the_priority(templates: EmailTemplates) -> None:
    urgent = notice("sla.breached", priority=Priority.urgent, customer=customer("Nguyễn Văn A"))
    assert (
        templates.notification(urgent).subject
        == "SLA breached: resolution for Nguyễn Văn A (urgent)"
    )


def test_the_body_has_what_a_lead_needs_to_act(templates: EmailTemplates) -> None:
    rendered = templates.notification(notice("escalation.created"))
    for expected in (
        "Customer:   Nguyen Van A",
        "Priority:   high",
        "Reason:     Gate failure (3x gate failure)",
        "Channel:    whatsapp",
        "Summary:    Wants a refund for order #1234.",
        "Escalation: esc_01TEST",
        f"Open in Slack: {CARD}",
    ):
        assert expected in rendered.text
    assert f'<a href="{CARD}"' in rendered.html and "Open in Slack</a>" in rendered.html
    assert "esc_01TEST" in rendered.html and "Wants a refund for order #1234." in rendered.html


def test_without_a_card_link_there_is_no_slack_link(templates: EmailTemplates) -> None:
    rendered = templates.notification(notice("escalation.created", card_link=None))
    assert "Open in Slack" not in rendered.text and "Open in Slack" not in rendered.html


@pytest.mark.parametrize("name", [None, "", "   "])
def test_a_customer_without_a_name_is_a_customer(
    templates: EmailTemplates, name: str | None
) -> None:
    rendered = templates.notification(notice("escalation.created", customer=customer(name)))
    assert rendered.subject == "New escalation: a customer (high)"
    assert "Customer:   a customer" in rendered.text
    assert "None" not in rendered.text


def test_the_transcript_shows_time_who_and_what(templates: EmailTemplates) -> None:
    transcript = (
        TranscriptLine("customer", "Nguyen Van A", "Where is my refund?", NOW),
        TranscriptLine("assistant", None, "Let me find someone.", NOW + timedelta(minutes=1)),
        TranscriptLine("agent", "Minh", "Line one\nline two", NOW + timedelta(minutes=3)),
    )
    rendered = templates.notification(notice("escalation.taken", transcript=transcript))
    assert (
        "[12 Mar 10:00] Nguyen Van A (customer): Where is my refund?\n"
        "[12 Mar 10:01] Bot: Let me find someone.\n"
        "[12 Mar 10:03] Minh (agent): Line one\n  line two\n"
    ) in rendered.text
    assert "earlier message" not in rendered.text
    assert '<strong dir="auto">Minh (agent)</strong>' in rendered.html


# What customers' text cannot do -----------------------------------------------------------


def test_hostile_text_is_escaped_in_the_html_and_verbatim_in_the_text(
    templates: EmailTemplates,
) -> None:
    transcript = (TranscriptLine("customer", HOSTILE, f"look: {HOSTILE}", NOW),)
    hostile = notice(
        "escalation.created",
        customer=customer(HOSTILE),
        summary=HOSTILE,
        reason_detail=HOSTILE,
        transcript=transcript,
    )
    rendered = templates.notification(hostile)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;Tom&#39; &lt;b&gt;"
    assert "<script>" not in rendered.html and "<b>" not in rendered.html
    assert rendered.html.count(escaped) >= 5  # name (twice), reason, summary, transcript
    assert f"Customer:   {HOSTILE}" in rendered.text
    assert f"Summary:    {HOSTILE}" in rendered.text
    assert f"{HOSTILE} (customer): look: {HOSTILE}" in rendered.text
    assert "&lt;" not in rendered.text and "&amp;" not in rendered.text


def test_customer_text_is_marked_for_its_own_direction(templates: EmailTemplates) -> None:
    rtl = notice("escalation.created", customer=customer("محمد بن عبد الله"))
    html = templates.notification(rtl).html
    assert '<td dir="auto">محمد بن عبد الله</td>' in html
    assert '<span dir="auto">محمد بن عبد الله</span>' in html


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Evil\r\nBcc: victim@example.com", "Evil Bcc: victim@example.com"),
        ("Evil\nBcc: victim@example.com\n\nbody", "Evil Bcc: victim@example.com body"),
        ("Evil\rBcc: victim@example.com", "Evil Bcc: victim@example.com"),
        ("Evil\x00\x1b[2J\x85\u2028Bcc: victim@example.com", "Evil [2J Bcc: victim@example.com"),
        # Looks RFC 2047 encoded (it decodes to "x\r\nBcc: victim@example.com"): stays text.
        (
            "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
            "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
        ),
    ],
)
def test_line_breaks_in_a_name_never_reach_a_header(
    templates: EmailTemplates, name: str, shown: str
) -> None:
    rendered = templates.notification(notice("escalation.created", customer=customer(name)))
    assert rendered.subject == f"New escalation: {shown} (high)"
    raw = email_message(rendered, sender=SENDER, to=TO).as_bytes()
    headers = raw.split(b"\n\n", 1)[0]
    assert b"\nbcc:" not in headers.lower() and b"\rbcc:" not in headers.lower()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None
    assert message["Subject"] == rendered.subject
    assert message["To"] == TO[0]


def test_lone_surrogates_do_not_stop_an_email(templates: EmailTemplates) -> None:
    broken = "Lan \ud83d"  # half an emoji, as a JavaScript client may cut one
    transcript = (TranscriptLine("customer", broken, "thanks \ude00 \ud83d\ude00", NOW),)
    rendered = templates.notification(
        notice("escalation.created", customer=customer(broken), transcript=transcript)
    )
    assert rendered.subject == "New escalation: Lan \ufffd (high)"
    assert "thanks \ufffd 😀" in rendered.text  # a pair the client sent as halves is whole
    plain, html = parts(sent(rendered))
    assert "Lan \ufffd (customer): thanks \ufffd 😀" in plain
    assert "Lan \ufffd" in html


def test_a_message_built_by_hand_with_surrogates_is_sent_too() -> None:
    rendered = RenderedEmail("Hi \ud83d", "text \udc00", "<p>html \ud83d</p>")
    message = sent(rendered)
    assert message["Subject"] == "Hi \ufffd"
    assert parts(message) == ("text \ufffd\n", "<p>html \ufffd</p>\n")


def test_a_long_conversation_shows_its_last_50_messages(templates: EmailTemplates) -> None:
    transcript = tuple(
        TranscriptLine("customer", "Lan", f"message #{i:03d}.", NOW + timedelta(seconds=i))
        for i in range(500)
    )
    rendered = templates.notification(notice("escalation.created", transcript=transcript))
    assert "… 450 earlier messages left out …" in rendered.text
    assert "450 earlier messages left out" in rendered.html
    shown = [i for i in range(500) if f"message #{i:03d}." in rendered.text]
    assert shown == list(range(450, 500))


def test_a_long_conversation_shows_at_most_20000_characters(templates: EmailTemplates) -> None:
    transcript = tuple(
        TranscriptLine("customer", "Lan", f"#{i:02d}" + "x" * 997, NOW) for i in range(40)
    )
    rendered = templates.notification(notice("escalation.created", transcript=transcript))
    shown = [i for i in range(40) if f"#{i:02d}x" in rendered.text]
    assert shown == list(range(20, 40))
    assert "… 20 earlier messages left out …" in rendered.text


def test_one_huge_message_is_cut_to_fit(templates: EmailTemplates) -> None:
    transcript = (TranscriptLine("customer", "Lan", "y" * 100_000, NOW),)
    rendered = templates.notification(notice("escalation.created", transcript=transcript))
    longest = max(len(run) for run in re.findall("y+", rendered.text))
    assert 19_000 < longest < 20_000 and "y…\n" in rendered.text
    assert "earlier message" not in rendered.text


def test_right_to_left_names_and_emoji_survive_the_trip(templates: EmailTemplates) -> None:
    name, agent = "محمد بن عبد الله 🦊", "נועה 🌸"
    taken = notice(
        "escalation.taken",
        customer=customer(name),
        assignee_name=agent,
        transcript=(TranscriptLine("customer", name, "مرحبا 👋", NOW),),
        extras={"agent": {"id": "U0NOA", "name": agent}},
    )
    rendered = templates.notification(taken)
    assert rendered.subject == f"Taken by {agent}: {name} (high)"
    raw = email_message(rendered, sender=SENDER, to=TO).as_bytes()
    assert raw.isascii()  # RFC 2047 in the header, a transfer encoding in the bodies
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0].lower()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == rendered.subject
    plain, html = parts(message)
    assert plain == rendered.text and html == rendered.html
    assert f"{name} (customer): مرحبا 👋" in plain
    assert f'<span dir="auto">{agent}</span>' in html


def test_a_long_name_is_cut_but_the_priority_stays_in_the_subject(
    templates: EmailTemplates,
) -> None:
    long_name = "Nguyễn Thị Minh Khai " * 50
    rendered = templates.notification(notice("sla.breached", customer=customer(long_name)))
    assert len(rendered.subject) <= 150
    assert rendered.subject.startswith("SLA breached: resolution for Nguyễn Thị Minh Khai")
    assert rendered.subject.endswith("… (high)")
    assert long_name.strip() in rendered.text  # the body has it whole


def test_every_subject_is_at_most_150_characters_even_from_a_template(
    templates: EmailTemplates,
) -> None:
    wordy = EmailTemplates({"subject": "{{ customer }} " * 20})
    rendered = wordy.notification(notice("escalation.created"))
    assert len(rendered.subject) == 150 and rendered.subject.endswith("…")


@pytest.mark.parametrize(
    "unit",
    ["👍🏽", "👨‍👩‍👧", "🇻🇳", "é", "🏳️‍🌈"],  # modifier, ZWJ family, flag, combining, both
)
def test_a_cut_never_splits_what_shows_as_one_character(unit: str) -> None:
    for offset in range(len(unit) + 1):
        text = "a" * offset + unit * 100
        kept = cut(text, 60).removesuffix("…")
        assert len(kept) <= 59
        body = kept[offset:]
        assert body == unit * (len(body) // len(unit)), (offset, ascii(kept[-6:]))


# The message -------------------------------------------------------------------------------


def test_the_message_has_plain_text_then_html_both_utf8(templates: EmailTemplates) -> None:
    rendered = templates.notification(notice("escalation.created"))
    message = email_message(
        rendered, sender=SENDER, to=["a@acme.example", "b@acme.example"], date=NOW
    )
    assert message.get_content_type() == "multipart/alternative"
    kinds = [(p.get_content_type(), p.get_content_charset()) for p in message.iter_parts()]
    assert kinds == [("text/plain", "utf-8"), ("text/html", "utf-8")]
    assert message["From"] == SENDER
    assert message["To"] == "a@acme.example, b@acme.example"
    assert message["Date"] == "Thu, 12 Mar 2026 10:00:00 +0000"
    assert message["Message-ID"].endswith("@acme.example>")
    assert message["Subject"] == "New escalation: Nguyen Van A (high)"


# The batch ---------------------------------------------------------------------------------


def test_an_hours_batch_lists_every_notice_in_order(templates: EmailTemplates) -> None:
    notices = [
        notice("escalation.created", customer=customer("Lan")),
        notice("escalation.taken", customer=customer(HOSTILE)),
        notice("sla.breached", customer=customer("Hùng")),
        notice("escalation.closed", customer=customer("Mai")),
    ]
    rendered = templates.batch(notices, START, START + timedelta(hours=1))
    assert (
        rendered.subject == "4 escalation updates, 12 Mar 2026 10:00 to 11:00 UTC (1 SLA breached)"
    )
    subjects = [
        "1. [12 Mar 10:00] New escalation: Lan (high)",
        f"2. [12 Mar 10:00] Taken by Minh: {HOSTILE} (high)",
        "3. [12 Mar 10:00] SLA breached: resolution for Hùng (high)",
        "4. [12 Mar 10:00] Closed (customer satisfied): Mai (high)",
    ]
    positions = [rendered.text.index(s) for s in subjects]
    assert positions == sorted(positions)
    assert "Note: Refund sent; customer happy." in rendered.text
    assert rendered.text.count(f"Open in Slack: {CARD}") == 4
    assert rendered.html.count("<li") == 4
    assert "<script>" not in rendered.html and "Taken by Minh: &lt;script&gt;" in rendered.html


def test_a_batch_shows_only_the_end_of_each_conversation(templates: EmailTemplates) -> None:
    transcript = tuple(TranscriptLine("customer", "Lan", f"m{i:02d}.", NOW) for i in range(30))
    rendered = templates.batch(
        [notice("escalation.created", transcript=transcript)], START, START + timedelta(hours=1)
    )
    assert rendered.subject == "1 escalation update, 12 Mar 2026 10:00 to 11:00 UTC"
    assert "… 20 earlier messages left out …" in rendered.text
    assert "m29." in rendered.text and "m19." not in rendered.text


# Operators' templates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "New: {{ customer ",  # a syntax error
        "New: {{ nobody_knows_me }}",  # a variable no notice has
        "{{ data.agent.name }} took it",  # only taken events have an agent
        "{{ ''.__class__.__mro__ }}",  # the sandbox refuses
    ],
)
def test_a_subject_that_fails_for_typical_notices_is_refused(source: str) -> None:
    with pytest.raises(TemplateProblem, match=r"^templates\.email\.subject: "):
        EmailTemplates({"subject": source})


def test_an_unknown_template_is_refused_by_name() -> None:
    with pytest.raises(TemplateProblem, match=r"^templates\.email\.footer: unknown"):
        EmailTemplates({"footer": "Thanks"})


def test_a_template_that_fails_only_for_odd_customers_is_accepted_and_stood_in_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shouty = EmailTemplates({"subject": "ESCALATED: {{ escalation.customer.name.upper() }}"})
    assert len(shouty.warnings) == 1
    warning = shouty.warnings[0]
    assert warning.startswith("templates.email.subject fails for a customer without a name")
    assert "a customer known only by an id" in warning
    assert "a right-to-left name" not in warning

    assert shouty.notification(notice("escalation.created")).subject == "ESCALATED: NGUYEN VAN A"
    with caplog.at_level(logging.WARNING, logger="baton.templates"):
        for _ in range(3):
            nameless = notice("escalation.created", customer=customer(None))
            assert shouty.notification(nameless).subject == "New escalation: a customer (high)"
    reports = [r for r in caplog.records if r.name == "baton.templates"]
    assert len(reports) == 1
    assert "templates.email.subject could not be rendered" in reports[0].getMessage()


def test_an_html_template_of_the_operator_is_escaped_too() -> None:
    own = EmailTemplates({"html": "<p>{{ customer }}: {{ escalation.summary }}</p>"})
    assert own.warnings == []
    rendered = own.notification(notice("escalation.created", customer=customer(HOSTILE)))
    assert rendered.html.startswith("<p>&lt;script&gt;")
    plain_text = EmailTemplates({"text": "{{ customer }}"}).notification(
        notice("escalation.created", customer=customer(HOSTILE))
    )
    assert plain_text.text == HOSTILE + "\n"


def test_a_batch_template_of_the_operator_sees_every_notice() -> None:
    names = "{{ notices | map(attribute='customer') | join(', ') }}"
    own = EmailTemplates({"batch_subject": "{{ notices | length }}: " + names})
    rendered = own.batch(
        [notice("escalation.created", customer=customer(n)) for n in ("Lan", "Hùng")],
        START,
        START + timedelta(hours=1),
    )
    assert rendered.subject == "2: Lan, Hùng"


# The shipped templates and their samples ------------------------------------------------------


def test_the_shipped_templates_hold_for_every_sample(templates: EmailTemplates) -> None:
    assert templates.warnings == []
    for _label, notices in notifications.ODD:
        for sample in notices:
            rendered = templates.notification(sample)
            assert rendered.subject and 0 < len(rendered.subject) <= 150
            assert "{{" not in rendered.text and "None" not in rendered.text
        batch = templates.batch(notices, START, START + timedelta(hours=1))
        assert batch.subject.startswith("6 escalation updates")


def test_the_samples_are_shaped_as_real_events() -> None:
    """Operators' templates are tried on the samples: they must look like the real thing."""
    for sample in notifications.TYPICAL:
        event_type = sample.event["type"]
        real = notice(event_type)
        assert sample.event.keys() == real.event.keys()
        assert sample.event["data"].keys() - {"customer_message"} == (
            real.event["data"].keys() - {"customer_message"}
        )
        assert sample.event["data"]["escalation"].keys() == escalation_public(escalation()).keys()


def test_every_event_a_notification_may_ask_for_has_a_sample() -> None:
    assert EVENT_TYPES == EVENTS
