"""``baton demo``: one conversation through the whole lifecycle, step by step, on this
machine. Each step acts as the platform or as a person in Slack, then waits for the effect
to show where it must (the stand-in Slack, the platform's verified events) and says how long
that took. Any step that does not complete in time stops the demo with the reason."""

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.style import Style
from rich.text import Text

from api.demo.block_preview import render_message
from api.demo.builder_links import BuilderLinks
from api.demo.images import png
from api.demo.platform import Fault, PlatformTimeout, Received
from api.demo.slack import SlackRequestFailed
from api.demo.slack_standin import BOT_USER, StoredFile, StoredMessage
from api.demo.stack import AGENT, AGENT_NAME, CHANNEL, NAMES, DemoStack, running_stack
from blocks.ids import Action
from bot.delivery import REACTIONS
from bot.posts import CARD_KEY, key_for
from storage.database import without_password

T = TypeVar("T")
POLL = 0.02
STEPS = (
    "A platform escalates a conversation",
    "The card appears in Slack",
    f"{AGENT_NAME} clicks Take",
    f"{AGENT_NAME} replies in the thread",
    f"{AGENT_NAME} shares a screenshot",
    "The customer writes back, with a photo",
    f"{AGENT_NAME} returns the conversation to the bot",
)
CUSTOMER = {"id": "cust_lan", "name": "Lan Nguyen", "email": None, "locale": "en"}
AGENT_REPLY = (
    "Hi Lan, I can see the double charge on order 8842. I've refunded it: "
    "you will see it within 3 days."
)
CUSTOMER_REPLY = "Thank you, that was quick! Here is what my bank shows now."
SCREENSHOT = ("refund-8842.png", png(96, 64, seed=1))  # what the agent shares
PHOTO = ("bank-statement.png", png(64, 96, seed=2))  # what the customer sends


class DemoFailed(Exception):
    pass


@dataclass(frozen=True)
class DemoOptions:
    db: str | None = None
    step: bool = False
    timeout: float = 15.0
    fault: Fault = Fault.none


def run_demo(options: DemoOptions, console: Console) -> None:
    """The whole demo; DemoFailed names the step that did not complete and why."""
    started = time.monotonic()
    links = BuilderLinks()
    with running_stack(options.db, options.fault) as stack:
        _introduce(stack, console, links)
        tour = _Tour(stack, console, options, links)
        esc_id = tour.escalate()
        card = tour.card_appears(esc_id)
        tour.take(esc_id, card)
        tour.reply(esc_id, card)
        tour.share(esc_id, card)
        tour.customer_writes(esc_id, card)
        tour.return_to_bot(esc_id)
        events = stack.platform.accepted()
    console.print(
        f"\n[bold green]Done[/] in {time.monotonic() - started:.1f}s: the platform accepted "
        f"{len(events)} events ({', '.join(e.type for e in events)}), every signature verified."
    )


def _introduce(stack: DemoStack, console: Console, links: BuilderLinks) -> None:
    where = "temporary, removed at the end" if stack.temporary else "kept"
    console.print("[bold]Baton demo[/]: one conversation, on this machine, no Slack account.")
    shown = without_password(stack.database_url)
    console.print(f"  database  {shown} ({where})", highlight=False)
    console.print(f"  Slack     stand-in Web API at {stack.slack.url}", highlight=False)
    console.print(
        f"  platform  stand-in at {stack.platform.callback_url}, verifying every signature",
        highlight=False,
    )
    console.print(
        f"  Baton     {stack.baton.base_url} (API, /slack/events, relay, Slack worker)",
        highlight=False,
    )
    console.print(
        f"  links     {links.path.as_uri()} (each message in Block Kit Builder; kept)",
        highlight=False,
        soft_wrap=True,
    )


class _Tour:
    def __init__(
        self, stack: DemoStack, console: Console, options: DemoOptions, links: BuilderLinks
    ) -> None:
        self.stack, self.console, self.options, self.links = stack, console, options, links
        self.number = 0

    # ---------------------------------------------------------------------------- steps

    def escalate(self) -> str:
        with self._step():
            response = self._api("POST", "/v1/escalations", _escalation(), expect=201)
            esc = response.json()
            self._say(f"POST /v1/escalations → 201: {esc['id']} ({esc['status']})")
            created = self._platform_gets("escalation.created", esc["id"])
            self._say(f'  the customer is told: "{created.data.get("customer_message", "")}"')
            return str(esc["id"])

    def card_appears(self, esc_id: str) -> StoredMessage:
        with self._step():
            card = self._wait(lambda: self._card(esc_id), "the card in Slack")
            thread = self._wait(
                lambda: self.stack.slack.thread(CHANNEL, card.ts), "the transcript in the thread"
            )
            self._say(f"chat.postMessage → #{CHANNEL}: the card, then {len(thread)} in its thread")
            self._show(card, "card")
            for message in thread:
                self._show(message, "thread")
            return card

    def take(self, esc_id: str, card: StoredMessage) -> None:
        with self._step():
            self.stack.people.click(self._current(card), AGENT, Action.TAKE)
            self._say("POST /slack/events (block_actions: Take, signed) → 200")
            taken = self._platform_gets("escalation.taken", esc_id)
            self._say(f'  the customer is told: "{taken.data.get("customer_message", "")}"')
            self._wait(
                lambda: f"<@{AGENT}>" in json.dumps(self._current(card).blocks),
                f"{AGENT_NAME} on the card",
            )
            self._say("chat.update: the card shows its owner")
            self._show(self._current(card), "card")

    def reply(self, esc_id: str, card: StoredMessage) -> None:
        with self._step():
            mine = self.stack.people.say(CHANNEL, card.ts, AGENT, AGENT_REPLY)
            self._say("POST /slack/events (message in the thread, signed) → 200")
            relayed = self._platform_gets("escalation.message", esc_id)
            content = (relayed.data.get("message") or {}).get("content", "")
            if content != AGENT_REPLY:
                raise DemoFailed(f"the platform got {content!r} instead of {AGENT_REPLY!r}")
            self._say(f'  the customer receives: "{content}"')
            delivered = REACTIONS["delivered"]
            self._wait(
                lambda: delivered in self.stack.slack.messages[(CHANNEL, mine.ts)].reactions,
                "the delivered mark on the reply",
            )
            self._say(
                f"reactions.add :{delivered}: on {AGENT_NAME}'s reply: it reached the customer"
            )

    def share(self, esc_id: str, card: StoredMessage) -> None:
        with self._step():
            name, content = SCREENSHOT
            self.stack.people.share(CHANNEL, card.ts, AGENT, name, content)
            self._say("POST /slack/events (a file_share message, no text, signed) → 200")
            relayed = self.stack.platform.wait_for(
                "escalation.message",
                esc_id,
                self.options.timeout,
                where=lambda r: bool((r.data.get("message") or {}).get("attachments")),
            )
            self._say("platform ← escalation.message (signature verified)")
            (attachment,) = relayed.data["message"]["attachments"]
            self._say(f"  the customer receives {attachment['name']} as Baton's signed link:")
            self._say(f"  {attachment['url']}")
            try:
                fetched = httpx.get(attachment["url"], timeout=10, trust_env=False)
            except httpx.HTTPError as exc:
                raise DemoFailed(f"fetching the link: {exc}") from None
            if fetched.status_code != 200 or fetched.content != content:
                raise DemoFailed(
                    f"the link answered {fetched.status_code} with {len(fetched.content)} "
                    f"bytes, not the {len(content)} bytes {AGENT_NAME} shared"
                )
            self._say(
                f"  GET the link, no credentials → 200: the same {len(content):,} bytes, "
                f"streamed from Slack with the bot token (files:read)"
            )

    def customer_writes(self, esc_id: str, card: StoredMessage) -> None:
        with self._step():
            name, content = PHOTO
            url = self.stack.platform.host_file(name, "image/png", content)
            attachment = {"url": url, "name": name, "mime_type": "image/png"}
            body = {"role": "customer", "content": CUSTOMER_REPLY, "attachments": [attachment]}
            self._api("POST", f"/v1/escalations/{esc_id}/messages", body, expect=201)
            self._say(f"POST /v1/escalations/{esc_id}/messages → 201")
            posted = self._wait(
                lambda: next(
                    (
                        m
                        for m in self.stack.slack.thread(CHANNEL, card.ts)
                        if CUSTOMER_REPLY in json.dumps(m.blocks)
                    ),
                    None,
                ),
                "the customer's message in the thread",
            )
            self._say("chat.postMessage in the card's thread:")
            self._show(posted, "thread")
            uploaded = self._wait(
                lambda: self._uploaded_in(card.ts, name), f"{name} uploaded into the thread"
            )
            if uploaded.content != content:
                raise DemoFailed(f"{name} arrived in Slack with other bytes than the customer's")
            self._say(
                f"files.getUploadURLExternal → upload → files.completeUploadExternal: {name} "
                f"({len(content):,} bytes, fetched from the customer's link) is in the thread"
            )

    def return_to_bot(self, esc_id: str) -> None:
        with self._step():
            card = self._wait(lambda: self._card(esc_id), "the card")
            self.stack.people.click(card, AGENT, Action.RETURN)
            self._say("POST /slack/events (block_actions: Return to bot, signed) → 200")
            self._platform_gets("escalation.returned", esc_id)
            self._say("  the platform resumes the AI")
            self._wait(
                lambda: "Returned to the bot" in json.dumps(self._current(card).blocks),
                "the returned card",
            )
            self._say("chat.update: the card is final, without buttons")
            self._show(self._current(card), "card")

    # -------------------------------------------------------------------------- helpers

    @contextmanager
    def _step(self) -> Iterator[None]:
        title = STEPS[self.number]
        self.number += 1
        if self.options.step and self.number > 1:
            self._pause(title)
        self.console.print(f"\n[bold]{self.number}. {title}[/]")
        started = time.monotonic()
        try:
            yield
        except (PlatformTimeout, SlackRequestFailed, DemoFailed) as exc:
            raise DemoFailed(f"step {self.number} ({title}) failed: {exc}") from None
        took = time.monotonic() - started
        self.console.print(
            f"[green]✓[/] {self.number}. {title} [dim]({took:.2f}s)[/]", highlight=False
        )

    def _pause(self, title: str) -> None:
        with contextlib.suppress(EOFError):  # stdin closed: carry on
            self.console.input(f"\n[dim]Press Enter for step {self.number}: {title}[/] ")

    def _say(self, text: str) -> None:
        self.console.print(f"   {text}", highlight=False, markup=False)

    def _show(self, message: StoredMessage, kind: str) -> None:
        title = f"#{CHANNEL} · {kind}"
        self.console.print(render_message(message.blocks, message.text, title, NAMES))
        number, link = self.links.add(f"Step {self.number}: {title}", message.blocks)
        # A hyperlink where the terminal draws them; the file has every link either way.
        label = Text(f"link {number}", style=Style(link=link))
        self.console.print(
            Text("   Block Kit Builder: ").append(label).append(" in the links file")
        )

    def _api(self, method: str, path: str, body: dict[str, Any], *, expect: int) -> httpx.Response:
        try:
            response = self.stack.api.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise DemoFailed(f"{method} {path}: {exc}") from None
        if response.status_code != expect:
            raise DemoFailed(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response

    def _platform_gets(self, event_type: str, esc_id: str) -> Received:
        got = self.stack.platform.wait_for(event_type, esc_id, self.options.timeout)
        self._say(f"platform ← {event_type} (signature verified)")
        return got

    def _wait(self, check: Callable[[], T | None], what: str) -> T:
        """Until ``check`` answers something truthy (Slack's stand-in keeps no event to
        wait on: it is polled)."""
        deadline = time.monotonic() + self.options.timeout
        while not (found := check()):
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {self.options.timeout:g}s waiting for {what}")
            time.sleep(POLL)
        return found

    def _card(self, esc_id: str) -> StoredMessage | None:
        """The card Baton posted for ``esc_id``, known as delivery knows it: by its metadata."""
        for message in self.stack.slack.top_level(CHANNEL):
            if key_for({"metadata": message.metadata}, esc_id) == CARD_KEY:
                return message
        return None

    def _uploaded_in(self, thread_ts: str, name: str) -> StoredFile | None:
        """A file the bot uploaded and shared in the thread."""
        shared = self.stack.slack.files_in_thread(CHANNEL, thread_ts)
        return next((f for f in shared if f.user == BOT_USER and f.name == name), None)

    def _current(self, message: StoredMessage) -> StoredMessage:
        """The message as Slack holds it now (after chat.update)."""
        return self.stack.slack.messages.get((message.channel, message.ts), message)


def _escalation() -> dict[str, Any]:
    return {
        "conversation_id": f"demo_{int(time.time())}",
        "customer": CUSTOMER,
        "channel": "whatsapp",
        "reason": "customer_request",
        "reason_detail": "Asked for a person after being charged twice for order 8842",
        "priority": "high",
        "confidence": 40,
        "transcript": [
            {"role": "customer", "content": "I was charged twice for order 8842."},
            {"role": "assistant", "content": "I'm sorry! Let me look into order 8842 for you."},
            {"role": "customer", "content": "Please let me talk to a person."},
        ],
        "context": {"memory": {"plan": "gold"}, "tags": ["billing"]},
    }
