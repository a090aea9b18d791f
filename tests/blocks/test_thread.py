"""Thread posts: escaped text everywhere, Block Kit limits for any size, newest kept."""

import json
import re
from datetime import timedelta

import pytest

from blocks.card import CardMessage
from blocks.thread import (
    agent_message,
    customer_message,
    delivery_failed,
    intro_messages,
    note_message,
)
from storage.models import Event, Message, Reason, Resolution, Role, Status
from tests.blocks.models import EVIL, NOW
from tests.blocks.models import escalation as _escalation

DANGEROUS = ("<!channel>", "<https://evil.example", "<@U0BOSS>")
SAFE_EVIL = "&lt;!channel&gt; &lt;https://evil.example|your bank&gt; &amp; &lt;@U0BOSS&gt;"
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def _message(content: str, i: int = 0, **overrides: object) -> Message:
    values: dict[str, object] = {
        "id": f"msg_{i}",
        "escalation_id": "esc_01TEST",
        "role": Role.customer,
        "content": content,
        "sent_at": NOW + timedelta(minutes=i),
        "created_at": NOW,
    }
    values.update(overrides)
    return Message(**values)


def _sections(message: CardMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks_as_dicts() if b["type"] == "section"]


def _rendered(messages: list[CardMessage]) -> str:
    return "".join(json.dumps(m.blocks_as_dicts(), ensure_ascii=False) + m.text for m in messages)


def _assert_fits(message: CardMessage) -> None:
    """What Slack accepts in one message (to_dict also runs slack_sdk's own checks)."""
    blocks = message.blocks_as_dicts()
    assert 1 <= len(blocks) <= 50
    texts = _sections(message)
    assert all(1 <= len(text) <= 3000 and text.strip() for text in texts)
    assert sum(map(len, texts)) <= 12_000
    assert 1 <= len(message.text) <= 3000
    assert not any(BROKEN_ENTITY.search(text) for text in texts)  # no entity cut in half


def _assert_safe(messages: list[CardMessage]) -> None:
    rendered = _rendered(messages)
    for dangerous in DANGEROUS:
        assert dangerous not in rendered
    assert SAFE_EVIL in rendered


def test_nothing_a_customer_or_agent_wrote_can_ping_or_link_in_the_intro() -> None:
    esc = _escalation(
        customer={"id": "c", "name": EVIL},
        context={
            "memory": {EVIL: EVIL},
            "tags": [EVIL],
            "gate_audit": [{"gate": EVIL, EVIL: [EVIL]}],
            "tool_calls": [{"name": EVIL, "args": {"q": EVIL}}],
            EVIL: EVIL,
            "nested": {"a": [{"b": EVIL}]},
        },
    )
    transcript = [
        _message(EVIL, 0, author_name=EVIL, author_id="U0BOSS"),
        _message(EVIL, 1, role=Role.agent, author_name=EVIL, author_id=EVIL),
        _message("see file", 2, attachments=[{"name": EVIL, "url": EVIL, "type": EVIL}]),
    ]
    earlier = [
        _escalation(id="esc_OLD", reason=EVIL, status=EVIL, resolution=EVIL, created_at=NOW),
    ]
    messages = intro_messages(esc, transcript, earlier)
    _assert_safe(messages)
    for title in ("*Memory*", "*Tags*", "*Gate audit*", "*Tool calls*", "*nested*"):
        assert title in _rendered(messages)
    for message in messages:
        _assert_fits(message)


@pytest.mark.parametrize(
    "build",
    [
        lambda: customer_message(_message(EVIL, author_name=EVIL, author_id="U0BOSS")),
        lambda: customer_message(_message(EVIL, attachments=[{"name": EVIL, "url": EVIL}])),
        lambda: agent_message(_message(EVIL, role=Role.agent, author_name=EVIL)),
        lambda: note_message(
            Event(
                id="evt_1",
                escalation_id="esc_01TEST",
                type="note",
                actor_name=EVIL,
                data={"content": EVIL},
                created_at=NOW,
            )
        ),
        lambda: delivery_failed(_message(EVIL, role=Role.agent, author_name=EVIL), EVIL),
    ],
    ids=["customer", "attachment", "agent", "note", "delivery_failed"],
)
def test_nothing_in_a_later_thread_post_can_ping_or_link(build) -> None:
    message = build()
    _assert_safe([message])
    _assert_fits(message)


def test_a_customer_id_that_looks_like_a_slack_user_is_never_a_mention() -> None:
    post = customer_message(_message("hi", author_id="U0BOSS", author_name=None))
    intro = intro_messages(_escalation(), [_message("hi", author_id="U0BOSS")], [])
    assert "<@U0BOSS>" not in _rendered([post, *intro])


def test_a_short_conversation_reads_in_order_in_one_post() -> None:
    transcript = [
        _message("Tôi muốn khiếu nại...", 0, author_name="Nguyen Van A"),
        _message("Mình sẽ chuyển bạn đến đội hỗ trợ nhé!", 1, role=Role.assistant),
        _message("Checking your order", 2, role=Role.agent, author_name="Minh"),
        _message("Escalated after 3 gate failures", 3, role=Role.system),
    ]
    messages = intro_messages(_escalation(), transcript, [])
    assert len(messages) == 1
    text = "\n".join(_sections(messages[0]))
    order = [
        text.index(s)
        for s in (
            "(4 messages)",
            "*Customer* · Nguyen Van A",
            "Tôi muốn khiếu nại...",
            "*AI assistant*",
            "*Agent* · *Minh*",
            "*System*",
            "Customer context",
            "Earlier escalations",
        )
    ]
    assert order == sorted(order)
    assert f"<!date^{int(NOW.timestamp())}^" in text  # each reader's own timezone
    assert "Nguyen Van A" in messages[0].text


def test_an_empty_transcript_and_context_still_say_so() -> None:
    messages = intro_messages(_escalation(context={}), [], [])
    assert len(messages) == 1
    text = "\n".join(_sections(messages[0]))
    assert "No transcript was sent" in text
    assert "No customer context was sent" in text
    assert "Earlier escalations of this customer*\n_None._" in text
    _assert_fits(messages[0])


def test_a_huge_transcript_keeps_the_newest_messages_in_ten_posts_at_most() -> None:
    transcript = [_message(f"#{i:04d} " + "x" * 2994, i) for i in range(5000)]
    messages = intro_messages(_escalation(), transcript, [])
    assert 1 < len(messages) <= 10
    for message in messages:
        _assert_fits(message)
    rendered = _rendered(messages)
    shown = sorted(int(n) for n in re.findall(r"#(\d{4}) x", rendered))
    assert shown == list(range(5000 - len(shown), 5000))  # the newest ones, each once
    assert len(shown) >= 10
    assert f"{5000 - len(shown):,} earlier messages not shown" in _sections(messages[0])[0]
    assert "GET /v1/escalations/esc_01TEST" in _sections(messages[0])[0]
    assert "(1/" in messages[0].text and f"({len(messages)}/{len(messages)})" in messages[-1].text


def test_many_short_messages_share_posts() -> None:
    transcript = [_message(f"ok {i}", i) for i in range(120)]
    messages = intro_messages(_escalation(), transcript, [])
    assert len(messages) == 3  # 120 one-line messages + headings, 50 blocks a post
    for message in messages:
        _assert_fits(message)
    assert "(120 messages)" in _sections(messages[0])[0]


def test_one_huge_message_is_split_over_sections_and_marked() -> None:
    content = ("word & <b> " * 10_000)[:100_000]
    post = customer_message(_message(content))
    intro = intro_messages(_escalation(), [_message(content)], [])
    for message in (post, *intro):
        _assert_fits(message)
    texts = _sections(post)
    assert len(texts) >= 3
    assert "the message has 100,000 characters" in texts[-1]
    assert "GET /v1/escalations/esc_01TEST" in texts[-1]
    assert "100,000 characters" in _rendered(intro)


@pytest.mark.parametrize("content", ["\n" * 100_000, " \n\t" * 30_000, "", "&" * 100_000])
def test_odd_content_still_makes_a_valid_post(content: str) -> None:
    for message in (customer_message(_message(content)), agent_message(_message(content))):
        _assert_fits(message)
        if not content.strip():
            assert "(empty message)" in _sections(message)[0]


def test_a_long_message_with_many_blank_lines_stays_readable() -> None:
    post = customer_message(_message("line\n" + "\n \n" * 50_000 + "end"))
    _assert_fits(post)
    assert _sections(post)[0].endswith("line\n\nend")


def test_a_huge_and_deep_context_and_many_earlier_escalations_fit() -> None:
    deep: dict = {}
    node = deep
    for _ in range(50_000):
        node["a"] = {}
        node = node["a"]
    context = {
        "memory": {f"key{i}": "v" * 10_000 for i in range(10_000)},
        "tags": ["t" * 1000] * 10_000,
        "gate_audit": [{"gate": "repeat", "detail": deep}] * 5000,
        "tool_calls": [deep, [deep], 10**5000],
        **{f"extra_{i}": {"x": "y" * 50_000} for i in range(200)},
    }
    earlier = [
        _escalation(
            id=f"esc_{i:03d}",
            status=Status.closed,
            resolution=Resolution.resolved,
            created_at=NOW - timedelta(days=i + 1),
        )
        for i in range(500)
    ]
    transcript = [_message("y" * 3000, i) for i in range(300)]
    messages = intro_messages(_escalation(context=context), transcript, earlier)
    assert len(messages) <= 10
    for message in messages:
        _assert_fits(message)
    rendered = _rendered(messages)
    assert "more context fields not shown" in rendered
    assert "…and 480 older escalations not shown" in rendered
    assert "{…}" in rendered  # nesting cut, not followed to the bottom
    assert "earlier messages not shown" in rendered


def test_context_shows_every_key_compactly() -> None:
    context = {
        "memory": {"plan": "gold", "orders": 3},
        "tags": ["vip", "refund"],
        "gate_audit": [{"gate": "repetition", "passed": False}],
        "tool_calls": [{"name": "lookup_order", "args": {"id": 42}}],
        "locale": "vi",
        "empty": [],
    }
    text = "\n".join(_sections(intro_messages(_escalation(context=context), [], [])[0]))
    assert "*Memory*\n• *plan*: gold\n• *orders*: 3" in text
    assert "*Tags*: vip, refund" in text
    assert "*Gate audit*\n• *gate*: repetition · *passed*: false" in text
    assert '*Tool calls*\n• *name*: lookup_order · *args*: {"id": 42}' in text
    assert "*locale*: vi" in text
    assert "*empty*" not in text


def test_earlier_escalations_are_listed_newest_first() -> None:
    earlier = [
        _escalation(id="esc_A", created_at=NOW - timedelta(days=30), status=Status.returned),
        _escalation(
            id="esc_B",
            created_at=NOW - timedelta(days=2),
            status=Status.closed,
            resolution=Resolution.customer_satisfied,
            reason=Reason.keyword,
        ),
    ]
    text = "\n".join(_sections(intro_messages(_escalation(), [], earlier)[0]))
    assert text.index("esc_B") < text.index("esc_A")
    assert "Keyword · closed (customer satisfied) · `esc_B`" in text
    assert "Gate failure · returned · `esc_A`" in text


def test_attachments_are_listed_by_name_type_and_address() -> None:
    msg = _message(
        "here",
        attachments=[
            {"name": "receipt.pdf", "url": "https://f.example/r.pdf", "type": "application/pdf"},
            {"url": "https://files.example/x"},
        ]
        + [{"name": f"f{i}.png", "url": "https://files.example/" + "p" * 400} for i in range(50)],
    )
    post = customer_message(msg)
    _assert_fits(post)
    text = "\n".join(_sections(post))
    assert ":paperclip: receipt.pdf (application/pdf): https://f.example/r.pdf" in text
    assert ":paperclip: attachment: https://files.example/x" in text
    assert "more attachments" in text


def test_an_agent_reply_says_who_sent_it_to_the_customer() -> None:
    msg = _message("Your refund is on its way", role=Role.agent, author_id="U0MINH")
    named = agent_message(msg.model_copy(update={"author_name": "Minh"}))
    assert _sections(named)[0].startswith(":outbox_tray: *Minh* → customer:\nYour refund")
    assert "Minh" in named.text
    assert "<@U0MINH> → customer:" in _sections(agent_message(msg))[0]


def test_a_note_is_marked_internal() -> None:
    note = note_message(
        Event(
            id="evt_1",
            escalation_id="esc_01TEST",
            type="note",
            actor_id="U0MINH",
            actor_name="Minh",
            data={"content": "Customer is a reseller"},
            created_at=NOW,
        )
    )
    text = _sections(note)[0]
    assert "*Internal note* by *Minh*" in text and "not sent to the customer" in text
    assert "Customer is a reseller" in text
    assert "Internal note" in note.text


def test_a_failed_delivery_tells_the_author_what_happened_and_what_to_do() -> None:
    msg = _message(
        "Hello, your refund " + "z" * 100_000,
        role=Role.agent,
        author_id="U0MINH",
        author_name="Minh",
    )
    post = delivery_failed(msg, "410 Gone: <conversation closed>")
    _assert_fits(post)
    text = _sections(post)[0]
    assert "<@U0MINH>" in text  # the author is notified
    assert "could not be delivered to the customer" in text
    assert ">Hello, your refund zzz" in text and len(text) < 1500
    assert "410 Gone: &lt;conversation closed&gt;" in text
    assert "`baton deliveries replay --all-failed`" in text
    assert "24 hours" in text and "another way" in text
    assert "no error was recorded" in _sections(delivery_failed(msg, None))[0]
