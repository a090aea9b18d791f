"""[[notifications]] end to end: the real app, a real SMTP server (aiosmtpd, STARTTLS and
login), a real webhook receiver checking every signature, and the Slack stand-in."""

import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from api.config import parse_config
from api.http.app import build_notifier
from api.logs import MASK, RedactingFilter
from api.relay.notifications import CARD_RETRY, Notifier
from api.slack_setup import SlackNotConfigured
from scheduler.jobs import hourly_emails, sla_sweep
from storage.clock import ManualClock
from storage.models import DeliveryState, OutboxRow, Topic
from storage.transitions import Actor
from tests.bot.conftest import ANN, SlackEnv, running_slack_env, running_standin
from tests.conftest import (
    SMTP_PASSWORD,
    TEST_SECRET_KEY,
    WRONG_SMTP_PASSWORD,
    make_settings,
    start_env,
)
from tests.processes import BATON, clean_env
from tests.receiver import Receiver
from tests.smtp_server import Certificate, SmtpTestServer, make_certificate

SMTP_USER = "baton"
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEADS = "C0LEADS"
URGENT = {"priority": "urgent"}
HIGH = {"priority": "high"}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server(certificate: Certificate) -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(certificate, username=SMTP_USER, password=SMTP_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    server = Receiver(secret=HOOK_SECRET).start()
    try:
        yield server
    finally:
        server.stop()


def smtp_section(server: SmtpTestServer, certificate: Certificate) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "username": SMTP_USER,
        "from": "Baton <baton@acme.example>",
        "ca_file": str(certificate.ca_file),
        "timeout": "5s",
    }


@dataclass
class Notified:
    slack: SlackEnv
    notifier: Notifier | None
    smtp: SmtpTestServer
    hooks: Receiver

    async def deliver(self) -> None:
        """The card and its posts first (an email waits for its card's link), then the
        notifications."""
        await self.slack.deliver()
        if self.notifier is not None:
            await self.notifier.drain()
        await self.slack.deliver()

    async def drain_notifier(self) -> None:
        assert self.notifier is not None
        await self.notifier.drain()

    def emails(self) -> list[tuple[list[str], str]]:
        return [(m.rcpt_tos, str(m.message["Subject"])) for m in self.smtp.messages()]


@asynccontextmanager
async def notified(
    database_url: str,
    entries: list[dict[str, Any]],
    smtp: SmtpTestServer,
    certificate: Certificate,
    hooks: Receiver,
    *,
    password: str = SMTP_PASSWORD,
    more: dict[str, Any] | None = None,
    manual_clock: bool = False,
) -> AsyncIterator[Notified]:
    config = parse_config(
        {
            "api": {"rate_limit": "0"},
            "smtp": smtp_section(smtp, certificate),
            "notifications": entries,
            **(more or {}),
        }
    )
    with running_standin(LEADS) as standin:
        async with running_slack_env(
            database_url, standin, config=config, smtp_password=password, manual_clock=manual_clock
        ) as senv:
            notifier = build_notifier(senv.env.services)  # None: Slack entries only
            try:
                yield Notified(senv, notifier, smtp, hooks)
            finally:
                if notifier is not None:
                    await notifier.aclose()


def _events(received: Receiver) -> list[tuple[str, str]]:
    return [(r.body["type"], r.body["data"]["escalation_id"]) for r in received.delivered()]


async def test_each_kind_hears_exactly_the_events_its_filters_match(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [
        {
            "kind": "email",
            "to": ["leads@acme.example", "Trưởng nhóm <vi-leads@acme.example>"],
            "events": ["escalation.created", "sla.breached"],
            "priority": ["urgent"],
        },
        {
            "kind": "webhook",
            "url": hooks.url,
            "secret": HOOK_SECRET,
            "events": ["escalation.created", "escalation.closed"],
            "platform": ["acme"],
        },
        {
            "kind": "slack",
            "channel": LEADS,
            "mention": "here",
            "events": ["escalation.created"],
            "priority": ["urgent"],
        },
        {"kind": "slack", "mention": "S0ONCALL", "events": ["escalation.taken"]},
    ]
    async with notified(database_url, entries, smtp_server, certificate, hooks) as n:
        env = n.slack.env
        globex = await env.add_platform("globex")
        urgent = await n.slack.escalate(**URGENT)
        high = await n.slack.escalate(**HIGH)
        elsewhere = (
            await env.create(auth={"Authorization": f"Bearer {globex.api_key}"}, **URGENT)
        )["id"]
        await n.slack.take(urgent, ANN)
        await env.services.machine.close(high, Actor(ANN, "Ann"), "resolved")
        await n.deliver()

        # Email: the urgent ones, from any platform, each once, to both addresses.
        assert sorted(n.emails()) == sorted(
            [
                (["leads@acme.example", "vi-leads@acme.example"], subject)
                for subject in _subjects(n, [urgent, elsewhere])
            ]
        )
        # Webhook: acme's created and closed, any priority; signed (the receiver checks).
        assert sorted(_events(hooks)) == sorted(
            [
                ("escalation.created", urgent),
                ("escalation.created", high),
                ("escalation.closed", high),
            ]
        )
        closed = next(r.body for r in hooks.delivered() if r.body["type"] == "escalation.closed")
        assert closed["data"]["resolution"] == "resolved"
        assert closed["data"]["escalation"]["status"] == "closed"
        # Slack, another channel: the urgent ones, opening with @here, linking the card.
        posts = n.slack.slack.top_level(LEADS)
        assert len(posts) == 2
        assert all(p.text.startswith("<!here> ") for p in posts)
        assert all("Open the card" in str(p.blocks) for p in posts)
        # Slack, a mention in the card's thread: the take only.
        mentions = [
            m.text for m in await n.slack.replies(urgent) if "<!subteam^S0ONCALL>" in m.text
        ]
        assert len(mentions) == 1
        assert not any("S0ONCALL" in m.text for m in await n.slack.replies(high))

        # Delivered once: draining again sends nothing more.
        await n.deliver()
        assert len(n.emails()) == 2 and len(hooks.delivered()) == 3
        assert len(n.slack.slack.top_level(LEADS)) == 2


def _subjects(n: Notified, esc_ids: list[str]) -> list[str]:
    """The subjects actually sent, one per escalation: each names its customer."""
    subjects = [s for _, s in n.emails()]
    assert len(subjects) == len(esc_ids)
    return subjects


async def test_an_email_carries_the_card_link_and_the_conversation(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [
        {
            "kind": "email",
            "to": ["leads@acme.example"],
            "events": ["escalation.created"],
            "include_transcript": True,
        }
    ]
    name = "محمد 🦊 <script>alert(1)</script>\r\nBcc: victim@example.com"
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, manual_clock=True
    ) as n:
        clock = n.slack.env.clock
        assert isinstance(clock, ManualClock)
        # Before its card is posted, the email waits for the link.
        esc = (await n.slack.env.create(customer={"id": "c1", "name": name}))["id"]
        await n.drain_notifier()
        assert n.smtp.messages() == []
        clock.advance(CARD_RETRY)
        await n.deliver()
        (received,) = n.smtp.messages()
        message = received.message
        assert received.tls, "sent over STARTTLS"
        assert received.rcpt_tos == ["leads@acme.example"]
        assert "victim@example.com" not in received.rcpt_tos
        assert message["Bcc"] is None
        assert "\n" not in str(message["Subject"]) and "محمد 🦊" in str(message["Subject"])
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        thread = await n.slack.thread(esc)
        assert thread.thread_ts.replace(".", "") in text, "a link to the card"
        assert "Tôi muốn khiếu nại..." in text and "Tôi muốn khiếu nại..." in html
        assert esc in text
        assert "<script>" not in html and "&lt;script&gt;" in html


async def test_sla_alerts_notify_once_however_often_the_sweep_runs(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [
        {"kind": "email", "to": ["leads@acme.example"], "events": ["sla.breached"]},
        {"kind": "webhook", "url": hooks.url, "secret": HOOK_SECRET, "events": ["sla.at_risk"]},
    ]
    sla = {"sla": {"targets": {"urgent": {"first_take": "10m"}}}}
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, more=sla, manual_clock=True
    ) as n:
        env = n.slack.env
        clock = env.clock
        assert isinstance(clock, ManualClock)
        created = clock.now()
        esc = await n.slack.escalate(**URGENT)
        policy, notices = env.services.machine.sla, env.services.machine.notices
        for minutes in (9, 11):  # at risk (80 %), then breached
            clock.set(created + timedelta(minutes=minutes))
            for _ in range(2):  # as two replicas would
                await sla_sweep(env.db, policy, notices)
        await n.deliver()
        assert _events(hooks) == [("sla.at_risk", esc)]
        at_risk = hooks.delivered()[0].body["data"]
        assert at_risk["target"] == "first_take"
        assert at_risk["escalation"]["priority"] == "urgent"
        ((to, subject),) = n.emails()
        assert to == ["leads@acme.example"] and "breach" in subject.lower()


async def test_a_subscriber_that_is_down_holds_up_only_its_own(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    hooks.answer = lambda _id, _n: 503
    both = ["escalation.created", "escalation.taken"]
    entries = [
        {"kind": "webhook", "url": hooks.url, "secret": HOOK_SECRET, "events": both},
        {"kind": "email", "to": ["leads@acme.example"], "events": both},
    ]
    async with notified(database_url, entries, smtp_server, certificate, hooks) as n:
        esc = await n.slack.escalate()
        await n.slack.take(esc, ANN)
        await n.deliver()
        await n.drain_notifier()
        assert len(n.emails()) == 2, "the email lane went on while the webhook failed"
        assert hooks.delivered() == []
        # The webhook's created is retried; its taken waits behind it, in order.
        assert Counter(await _notify_rows(n)) == {
            ("done", None): 2,
            ("pending", "HTTP 503"): 1,
            ("pending", None): 1,
        }


async def _notify_rows(n: Notified) -> list[tuple[str, str | None]]:
    async with n.slack.env.db.read() as s:
        rows = (await s.execute(select(OutboxRow).where(OutboxRow.topic == Topic.notify))).scalars()
        return [(str(r.state), r.last_error) for r in rows]


async def test_a_wrong_smtp_password_parks_the_email_saying_why(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [{"kind": "email", "to": ["leads@acme.example"], "events": ["escalation.created"]}]
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, password=WRONG_SMTP_PASSWORD
    ) as n:
        await n.slack.escalate()
        await n.deliver()
        assert n.smtp.messages() == []
        ((state, error),) = await _notify_rows(n)
        assert state == DeliveryState.failed
        assert error is not None and "BATON_SMTP_PASSWORD" in error
        assert WRONG_SMTP_PASSWORD not in error
        # What an operator sees.
        listed = subprocess.run(
            [BATON, "deliveries", "list", "--notifications", "--failed"],
            env=clean_env(BATON_DATABASE_URL=database_url, BATON_SECRET_KEY=TEST_SECRET_KEY),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        (header, line) = listed.stdout.splitlines()
        assert header.split("\t")[:3] == ["id", "event", "type"]
        assert "\temail (email-" in line and "\tfailed\t" in line
        assert "BATON_SMTP_PASSWORD" in line


async def test_an_smtp_server_down_for_30_seconds_gets_every_email_once(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [{"kind": "email", "to": ["leads@acme.example"], "events": ["escalation.created"]}]
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, manual_clock=True
    ) as n:
        clock = n.slack.env.clock
        assert isinstance(clock, ManualClock)
        smtp_server.stop()
        escalations = [await n.slack.escalate() for _ in range(3)]
        down_since = clock.now()
        while clock.now() - down_since < timedelta(seconds=30):
            await n.drain_notifier()
            clock.advance(timedelta(seconds=5))
        assert all(s == "pending" for s, _ in await _notify_rows(n))
        smtp_server.start()
        for _ in range(10):
            clock.advance(timedelta(seconds=30))
            await n.drain_notifier()
        assert len(n.emails()) == len(escalations)
        assert all(s == "done" for s, _ in await _notify_rows(n))


async def test_an_hourly_entry_sends_one_email_per_hour_with_every_event(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [
        {
            "kind": "email",
            "to": ["leads@acme.example"],
            "events": ["escalation.created", "escalation.taken"],
            "batch": "hourly",
        }
    ]
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, manual_clock=True
    ) as n:
        env = n.slack.env
        clock = env.clock
        assert isinstance(clock, ManualClock)
        hour = clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        clock.set(hour + timedelta(minutes=5))
        first = await n.slack.escalate(customer={"id": "c1", "name": "Lan"})
        clock.set(hour + timedelta(minutes=40))
        second = await n.slack.escalate(customer={"id": "c2", "name": "Minh"})
        await n.slack.take(first, ANN)
        clock.set(hour + timedelta(minutes=59, seconds=59))
        assert await hourly_emails(env.db) == 0, "the hour has not ended"
        clock.set(hour + timedelta(hours=1, minutes=10))
        late = await n.slack.escalate(customer={"id": "c3", "name": "Hoa"})
        # Two replicas gathering at once: each event in one email.
        assert await hourly_emails(env.db) + await hourly_emails(env.db) == 1
        await n.deliver()
        (only,) = n.smtp.messages()
        text = only.message.get_body(("plain",)).get_content()
        assert all(name in text for name in ("Lan", "Minh")) and "Hoa" not in text
        assert text.count(first) >= 2 and second in text and late not in text
        clock.set(hour + timedelta(hours=2, minutes=1))
        assert await hourly_emails(env.db) == 1
        await n.deliver()
        assert len(n.smtp.messages()) == 2
        assert "Hoa" in n.smtp.messages()[1].message.get_body(("plain",)).get_content()


async def test_a_slack_notice_escapes_what_the_customer_wrote(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [
        {"kind": "slack", "channel": LEADS, "mention": "U0ANN", "events": ["escalation.created"]},
        {"kind": "slack", "mention": "channel", "events": ["escalation.created"]},
    ]
    name = "<!channel> Tom & Jerry <https://evil.example|bank>"
    summary = "Wants a refund *now* <@U0BOB> & more"
    async with notified(database_url, entries, smtp_server, certificate, hooks) as n:
        esc = await n.slack.escalate(customer={"id": "c1", "name": name}, summary=summary)
        await n.deliver()
        (post,) = n.slack.slack.top_level(LEADS)
        shown = json.dumps(post.blocks) + post.text
        assert post.text.startswith("<@U0ANN> ")
        assert (
            "<!channel>" not in shown and "<https://evil" not in shown and "<@U0BOB>" not in shown
        )
        assert "&lt;!channel&gt; Tom &amp; Jerry" in shown
        in_thread = [m for m in await n.slack.replies(esc) if m.text.startswith("<!channel> ")]
        assert len(in_thread) == 1, "the configured mention, once, in the card's thread"


async def test_a_channel_the_bot_is_not_in_parks_the_notice_and_nothing_else(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    entries = [{"kind": "slack", "channel": "C0NOBOT", "events": ["escalation.created"]}]
    async with notified(database_url, entries, smtp_server, certificate, hooks) as n:
        esc = await n.slack.escalate()
        await n.slack.take(esc, ANN)
        await n.deliver()
        card = await n.slack.card(esc)
        assert ANN in json.dumps(card.blocks), "the card went on"
        async with n.slack.env.db.read() as s:
            (notice,) = (
                await s.execute(select(OutboxRow).where(col(OutboxRow.kind) == "notify"))
            ).scalars()
        assert notice.state == DeliveryState.failed
        assert notice.last_error is not None and "channel" in notice.last_error


async def test_a_slack_entry_without_slack_stops_start_up_naming_it(database_url: str) -> None:
    config = parse_config(
        {"notifications": [{"kind": "slack", "mention": "here", "events": ["sla.breached"]}]}
    )
    with pytest.raises(SlackNotConfigured, match=r"notifications\[0\].*SLACK_BOT_TOKEN"):
        await start_env(database_url, config=config)


def test_logging_masks_the_smtp_password_and_every_webhook_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_env = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    monkeypatch.setenv("OPS_HOOK_SECRET", from_env)
    hook = {"kind": "webhook", "url": "https://ops.example/h", "events": ["sla.breached"]}
    config = parse_config(
        {
            "notifications": [
                {**hook, "secret": HOOK_SECRET},
                {**hook, "url": "https://ops2.example/h", "secret_env": "OPS_HOOK_SECRET"},
            ]
        }
    )
    settings = make_settings("sqlite:///unused.db", smtp_password=SMTP_PASSWORD)
    literals = [*settings.secret_values(), *config.secret_values()]
    redactor = RedactingFilter(literals)
    logged = f"login {SMTP_PASSWORD} with {HOOK_SECRET[6:]} and {from_env[6:]}"
    assert redactor.scrub(logged) == f"login {MASK} with {MASK} and {MASK}"


async def test_a_webhook_is_retried_and_parked_when_it_answers_gone(
    database_url: str, smtp_server: SmtpTestServer, certificate: Certificate, hooks: Receiver
) -> None:
    hooks.answer = lambda _id, attempt: 503 if attempt == 1 else 410
    created = ["escalation.created"]
    entries = [{"kind": "webhook", "url": hooks.url, "secret": HOOK_SECRET, "events": created}]
    async with notified(
        database_url, entries, smtp_server, certificate, hooks, manual_clock=True
    ) as n:
        clock = n.slack.env.clock
        assert isinstance(clock, ManualClock)
        await n.slack.escalate()
        await n.drain_notifier()
        assert await _notify_rows(n) == [("pending", "HTTP 503")]
        clock.advance(timedelta(seconds=10))  # past the first back-off (5 s ± 20 %)
        await n.drain_notifier()
        assert await _notify_rows(n) == [("failed", "HTTP 410 (gone)")]
        ((webhook_id, attempts),) = hooks.attempts.items()
        assert attempts == 2 and webhook_id.startswith("evt_"), "one id for every attempt"
