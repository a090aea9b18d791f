"""Buttons on the card (Take, Reply, Return to bot, Close, the overflow menu, and Resume AI
once closed) and on the prompt shown to someone who wrote in a thread nobody owns. Each
acks first."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks import notices
from blocks.ids import Action, MoreOption
from blocks.modals import (
    close_modal,
    priority_modal,
    reassign_modal,
    reply_modal,
    suggestion_modal,
)
from bot.listeners.common import Deps, Where, attempt, tell
from storage import suggestions, threads
from storage.agents import known_agents
from storage.machine import Actor
from storage.models import Escalation, Status

log = logging.getLogger("baton.slack")
SUGGESTED_MEMBERS = 20


def where_clicked(body: dict[str, Any]) -> Where:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    user = body["user"]["id"]
    return Where(channel or user, user, container.get("thread_ts"))


def register(app: AsyncApp, deps: Deps) -> None:
    machine = deps.machine

    # Buttons that make one move at once: the button's value names what it moves.
    moves: dict[str, Callable[[str, Actor], Awaitable[object]]] = {
        Action.TAKE: machine.take,
        Action.RETURN: machine.return_to_bot,
        Action.RESUME_AI: machine.resume_ai,
        Action.SEND_SUGGESTION: machine.send_suggestion,  # as it is; edited: the modal
    }

    @app.action(Action.TAKE)
    @app.action(Action.RETURN)
    @app.action(Action.RESUME_AI)
    @app.action(Action.SEND_SUGGESTION)
    async def move(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Made by whoever may; anyone else is told why not (who owns it, say)."""
        await ack()
        change = moves[action["action_id"]](action["value"], await deps.actor_of(body))
        await attempt(client, where_clicked(body), change)

    @app.action(Action.EDIT_SUGGESTION)
    async def edit_suggestion(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        where = where_clicked(body)
        sug = await attempt(client, where, suggestions.load(deps.db, action["value"]))
        if sug is None:
            return
        if sug.sent_at is not None:
            await tell(client, where, notices.suggestion_sent((sug.sent_by or {}).get("name")))
            return
        allowed = _owned_or_told(deps, client, where, sug.escalation_id, "reply to")
        if await attempt(client, where, allowed) is not None:
            await _open(client, body, suggestion_modal(sug, where.metadata(sug.id)))

    @app.action(Action.REPLY)
    @app.action(Action.CLOSE)
    async def open_modal(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Reply is the owner's; Close is the owner's, or anyone's while nobody owns it."""
        await ack()
        where = where_clicked(body)
        closing = action["action_id"] == Action.CLOSE
        verb = "close" if closing else "reply to"
        allowed = _owned_or_told(deps, client, where, action["value"], verb, queued_ok=closing)
        esc = await attempt(client, where, allowed)
        if esc is not None:
            modal = close_modal if closing else reply_modal
            await _open(client, body, modal(esc, where.metadata(esc.id)))

    @app.action(Action.MORE)
    async def more(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        where = where_clicked(body)
        choice, _, esc_id = (action.get("selected_option") or {}).get("value", "").partition(":")
        esc = await attempt(client, where, _open_or_told(deps, client, where, esc_id))
        if esc is None:
            return
        if choice == MoreOption.UNASSIGN:
            change = machine.update(esc.id, await deps.actor_of(body), assignee=None)
            await attempt(client, where, change)
        elif choice == MoreOption.PRIORITY:
            await _open(client, body, priority_modal(esc, where.metadata(esc.id)))
        elif choice == MoreOption.REASSIGN:
            suggested = await attempt(client, where, _suggested(deps, client, esc, where))
            if suggested is not None:
                modal = reassign_modal(esc, where.metadata(esc.id), suggested)
                await _open(client, body, modal)

    @app.action(Action.TAKE_AND_SEND)
    @app.action(Action.KEEP_AS_NOTE)
    async def held_message(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        """The choice offered to someone who wrote in the thread of a queued escalation."""
        await ack()
        esc_id, _, held_id = action["value"].partition(":")
        actor = await deps.actor_of(body)
        change: Awaitable[object]
        if action["action_id"] == Action.TAKE_AND_SEND:
            change, done = machine.take_and_send(esc_id, actor, held_id), notices.sent()
        else:
            change, done = machine.keep_as_note(esc_id, actor, held_id), notices.note_saved()
        if await attempt(client, where_clicked(body), change) is not None:
            await _replace_prompt(respond, done)


async def _owned_or_told(
    deps: Deps,
    client: AsyncWebClient,
    where: Where,
    esc_id: str,
    action: str,
    *,
    queued_ok: bool = False,
) -> Escalation | None:
    """The escalation if this user may ``action`` it now; else they are told why not."""
    esc = await threads.load_escalation(deps.db, esc_id)
    if esc is None:
        await tell(client, where, notices.unknown_escalation())
        return None
    if esc.status == Status.taken and esc.assignee_id == where.user:
        return esc
    if esc.status == Status.queued and queued_ok:
        return esc
    if esc.status in (Status.queued, Status.taken):
        await tell(client, where, notices.only_owner(action, esc.assignee_id, esc.assignee_name))
    else:
        await tell(client, where, notices.not_possible(action, str(esc.status)))
    return None


async def _open_or_told(
    deps: Deps, client: AsyncWebClient, where: Where, esc_id: str
) -> Escalation | None:
    """The escalation if it is still open to changes; else the user is told why not."""
    esc = await threads.load_escalation(deps.db, esc_id)
    if esc is None:
        await tell(client, where, notices.unknown_escalation())
        return None
    if esc.status not in (Status.queued, Status.taken):
        await tell(client, where, notices.not_possible("change", str(esc.status)))
        return None
    return esc


async def _suggested(
    deps: Deps, client: AsyncWebClient, esc: Escalation, where: Where
) -> list[tuple[str, str]]:
    """Who to offer first when assigning: the members of the channel routing put the card
    in, wherever the click was."""
    card = await threads.thread_of(deps.db, esc.id)
    return await _channel_members(deps, client, card.channel_id if card else where.channel)


async def _open(client: AsyncWebClient, body: dict[str, Any], view: Any) -> None:
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as exc:
        log.warning("slack: could not open a modal: %s", exc.response.get("error"))


async def _channel_members(
    deps: Deps, client: AsyncWebClient, channel: str
) -> list[tuple[str, str]]:
    """Members of the card's channel Baton knows by name, to offer first when assigning."""
    try:
        response = await client.conversations_members(channel=channel, limit=200)
    except SlackApiError:
        return []
    listed: list[Any] = response.get("members", [])
    members = [m for m in listed if isinstance(m, str)]
    agents = await known_agents(deps.db, members)
    return sorted(((a.id, a.name) for a in agents), key=lambda pair: pair[1].lower())[
        :SUGGESTED_MEMBERS
    ]


async def _replace_prompt(respond: AsyncRespond, text: str) -> None:
    """Swap the ephemeral prompt for what was done (Slack drops it if it is gone already)."""
    try:
        await respond(text=text, replace_original=True, response_type="ephemeral")
    except Exception as exc:  # response_url answers are best effort; the change is made
        log.info("slack: could not update the prompt: %s", exc)
