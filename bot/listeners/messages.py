"""Messages in an escalation's thread.

The owner's messages, and the files shared with them, go to the customer (unless they
start with ``note:``); anyone else's are internal notes. A file that cannot go (too large,
stored outside Slack) is named to its writer, privately. In the thread of an escalation
nobody owns yet, the writer chooses: take it and send the message, or keep it as a note.
The customer reads what the writer saw in Slack: mentions, links and emoji resolved,
formatting kept as Markdown as well. Its owner's edits and deletes of a message the
customer already has reach the customer within the edit window; after it they are
recorded as notes, and the customer keeps the original.

A message is handled before Slack is answered (see ``handle_before_answering``).
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks import notices
from blocks.prompts import held_message_prompt
from blocks.relay_text import RelayText
from bot.listeners.common import Deps, Failed, Where, attempt, outcome, tell
from bot.mentions import customer_text
from bot.posts import CardPost, Unreadable, card_post
from storage import rerouting, slack_events, threads
from storage.attachments import SlackFile
from storage.machine import Actor, SlackChange
from storage.models import Escalation, SlackThread, Status

log = logging.getLogger("baton.slack")

NOTE_PREFIX = "note:"
HANDLED_SUBTYPES = (None, "thread_broadcast", "file_share")


def is_message(body: dict[str, Any]) -> bool:
    """A ``message`` event: handled, and remembered as handled, here."""
    event = body.get("event") or {}
    return body.get("type") == "event_callback" and event.get("type") == "message"


def register(app: AsyncApp, deps: Deps) -> None:
    async def handle_before_answering(
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        next: Callable[[], Awaitable[None]],
    ) -> None:
        """Bolt answers an event as its listener starts, after the listener's middleware:
        handled here, a reply is recorded before Slack hears back. Slack never sends an
        answered event again, so a reply answered first and then cut short by a crash
        would be lost. The event is claimed before it is handled, so a retry that comes
        while it is still being handled is dropped; a claim left unhandled by a crash is
        taken over by a later retry (``slack_events.claim``).

        A database that does not answer is no crash: the writer is told that their message
        went nowhere (see ``_in_a_thread`` and ``attempt``), and Slack is answered all the
        same, so that it does not deliver the message again later, behind their back."""
        event_id = str(body.get("event_id") or "")
        claimed = await outcome(slack_events.claim(deps.db, event_id)) if event_id else None
        if claimed is False:
            log.info("slack: event %s handled or being handled (a retry); ignored", event_id)
        else:
            ours = _Ours(context.team_id or "", context.bot_user_id)
            try:
                await _handle(deps, client, ours, event)
            except Exception:
                if claimed is True:
                    await outcome(slack_events.release(deps.db, event_id))
                raise
            if claimed is True:
                await outcome(slack_events.handled(deps.db, event_id))
        await next()

    @app.event("message", middleware=[handle_before_answering])
    async def answered() -> None:
        """Nothing is left to do once Slack is answered (see handle_before_answering)."""


@dataclass(frozen=True)
class _Ours:
    """The workspace, and the bot's own user (whose cards head escalation threads)."""

    team: str
    bot_user: str | None


async def _handle(deps: Deps, client: AsyncWebClient, ours: _Ours, event: dict[str, Any]) -> None:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        await _edited(deps, client, ours, event)
    elif subtype == "message_deleted":
        await _deleted(deps, client, ours, event)
    elif subtype in HANDLED_SUBTYPES:
        await _posted(deps, client, ours, event)


async def _in_a_thread(
    deps: Deps, client: AsyncWebClient, ours: _Ours, channel: str, message: dict[str, Any]
) -> tuple[Escalation, Where, Actor] | None:
    """A person's reply in an escalation's thread: the escalation, where to answer the
    person, and who they are. None for bots, top-level messages and other threads, and
    when the database does not answer: then the writer is told, if the thread is under a
    post of the bot's (as an escalation's is), and not someone else's."""
    thread_ts = message.get("thread_ts")
    if not message.get("user") or message.get("bot_id"):
        return None  # Baton's own posts (and their edits) come back as events too
    if not thread_ts or thread_ts == message.get("ts"):
        return None
    where = Where(channel, message["user"], thread_ts)
    under_ours = message.get("parent_user_id") in (None, ours.bot_user)
    esc = await outcome(threads.escalation_in_thread(deps.db, ours.team, channel, thread_ts))
    if esc is None and ours.bot_user and message.get("parent_user_id") == ours.bot_user:
        esc = await _card_not_recorded_yet(deps, client, ours, where)
    if isinstance(esc, Failed):
        if under_ours:
            await tell(client, where, esc.notice)
        return None
    if esc is None:
        return None
    author = await deps.people.actor(message["user"])
    return esc, where, author


async def _card_not_recorded_yet(
    deps: Deps, client: AsyncWebClient, ours: _Ours, where: Where
) -> Escalation | Failed | None:
    """A reply under a post of the bot's that is no known card: it may be a card whose post
    Slack answered late, or whose answer was lost, so that Baton has not recorded it yet.
    Slack shows the post with the escalation in its metadata; Baton records the thread
    then (as the card's sender would) and handles the reply as usual."""
    assert where.thread_ts is not None
    try:
        card = await card_post(client, where.channel, where.thread_ts)
    except Unreadable as exc:
        log.warning("slack: could not read the post heading thread %s: %s", where.thread_ts, exc)
        return Failed(notices.card_not_found_yet(), refused=False)
    if card is None:
        return None
    log.info("slack: a reply came before the card of %s was recorded", card.escalation_id)
    esc = await outcome(threads.load_escalation(deps.db, card.escalation_id))
    if isinstance(esc, Failed) or esc is None:
        return esc
    thread = await outcome(_remember_card(deps, esc, ours.team, where, card))
    if isinstance(thread, Failed):
        return thread
    if (thread.channel_id, thread.thread_ts) != (where.channel, where.thread_ts):
        return None  # a card of this escalation that its sender gave up on; not its thread
    return esc


async def _remember_card(
    deps: Deps, esc: Escalation, team: str, where: Where, card: CardPost
) -> SlackThread:
    """Record the card's thread as its sender would have, why it was rerouted included."""
    assert where.thread_ts is not None
    if card.rerouted is None:
        return await threads.remember_thread(deps.db, esc.id, team, where.channel, where.thread_ts)
    return await rerouting.remember_rerouted_thread(
        deps.db, esc.id, esc.platform_id, team, where.channel, where.thread_ts, card.rerouted
    )


async def _posted(deps: Deps, client: AsyncWebClient, ours: _Ours, event: dict[str, Any]) -> None:
    found = await _in_a_thread(deps, client, ours, event.get("channel", ""), event)
    if found is None:
        return
    esc, where, author = found
    said, ts = await _customer_text(deps, client, event), event["ts"]
    text = said.content
    machine = deps.machine
    towards_customer = esc.status == Status.queued or (
        esc.status == Status.taken and esc.assignee_id == author.id
    )
    files: list[SlackFile] = []
    if event.get("files") and towards_customer and not _is_note(text):
        files = await _relayable_files(deps, client, where, event["files"])
    if not text.strip() and not files:
        return  # nothing for the customer: no words, and no file that could be sent
    if esc.status == Status.queued:
        held = machine.hold_slack_message(esc.id, author, text, ts, said.markdown, files)
        held_event = await attempt(client, where, held)
        if held_event is not None:
            prompt = held_message_prompt(esc, held_event.id)
            await tell(client, where, prompt.text, prompt.blocks_as_dicts())
        return
    if esc.status != Status.taken:
        note = machine.add_note(esc.id, author, text, from_slack=True)
        if await attempt(client, where, note) is not None:
            await tell(client, where, notices.not_relayed_ended(str(esc.status)))
        return
    if esc.assignee_id != author.id:
        note = machine.add_note(esc.id, author, text, from_slack=True)
        if await attempt(client, where, note) is not None:
            await tell(client, where, notices.note_kept(esc.assignee_id, esc.assignee_name))
        return
    if _is_note(text):
        content = text[len(NOTE_PREFIX) :].strip()
        await attempt(client, where, machine.add_note(esc.id, author, content, from_slack=True))
        return
    reply = machine.reply(
        esc.id, author, text, from_slack_ts=ts, markdown=said.markdown, files=files
    )
    await attempt(client, where, reply)


def _is_note(text: str) -> bool:
    return text.lower().startswith(NOTE_PREFIX)


async def _relayable_files(
    deps: Deps, client: AsyncWebClient, where: Where, shared: list[dict[str, Any]]
) -> list[SlackFile]:
    """The files of a message that can go to the customer; the writer is told about each
    one that cannot, and why."""
    relayable = []
    for file in shared:
        found = await _described_file(client, file)
        if isinstance(found, str):
            await tell(client, where, found)
        elif found is not None:
            if found.size > deps.max_file_bytes:
                await tell(
                    client,
                    where,
                    notices.file_too_large(found.name, found.size, deps.max_file_bytes),
                )
            else:
                relayable.append(found)
    return relayable


async def _described_file(client: AsyncWebClient, file: dict[str, Any]) -> SlackFile | str | None:
    """A shared file as Baton relays it, or why it cannot be (None: deleted meanwhile).
    Slack sometimes sends only the file's id, to be asked about with files.info."""
    name = str(file.get("name") or file.get("title") or file.get("id") or "file")
    if file.get("mode") == "tombstone":
        return None
    if file.get("file_access") == "check_file_info" or not file.get("url_private_download"):
        try:
            file = (await client.files_info(file=str(file.get("id") or ""))).get("file") or {}
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("slack: files.info for %s failed: %s", name, error)
            return notices.file_not_relayable(name, f"Slack did not describe it ({error})")
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: files.info for %s failed: %s", name, exc)
            return notices.file_not_relayable(name, "Slack did not answer; share it again")
        name = str(file.get("name") or file.get("title") or name)
    if file.get("is_external") or file.get("mode") == "external":
        return notices.file_not_relayable(name, "it is stored outside Slack; share its link")
    url = file.get("url_private_download")
    if not url or file.get("mode") == "tombstone":
        return notices.file_not_relayable(name, "Slack offers no download of it")
    return SlackFile(
        file_id=str(file["id"]),
        name=name,
        mime_type=file.get("mimetype") or None,
        size=int(file.get("size") or 0),
        download_url=str(url),
    )


async def _customer_text(deps: Deps, client: AsyncWebClient, message: dict[str, Any]) -> RelayText:
    """The message as the customer reads it: Slack's markup resolved, names looked up.
    Notes keep the same plain text, so the audit trail reads as Slack showed it."""
    return await customer_text(deps.people, deps.channels, client, message)


async def _edited(deps: Deps, client: AsyncWebClient, ours: _Ours, event: dict[str, Any]) -> None:
    """An edit within the edit window reaches the customer; otherwise it is a note, and the
    owner learns that the customer keeps the original."""
    message = event.get("message") or {}
    previous = event.get("previous_message") or {}
    if (message.get("text") or "") == (previous.get("text") or ""):
        return  # an unfurl or a reaction, not a change of words
    found = await _in_a_thread(deps, client, ours, event.get("channel", ""), message)
    if found is None:
        return
    esc, where, author = found
    said = await _customer_text(deps, client, message)
    if said.content.strip():
        edit = deps.machine.edit_slack_reply(
            esc.id, author, message.get("ts", ""), said.content, said.markdown
        )
        change = await attempt(client, where, edit)
    else:  # emptied: the text of a message with files was removed
        change = await attempt(client, where, _change_of(deps, esc.id, message.get("ts", "")))
    if change is None or change == SlackChange.RELAYED:
        return
    relayed = change == SlackChange.TOO_LATE
    what = "a message already sent to the customer" if relayed else "a message in the thread"
    note = f"Edited {what} in Slack. Now: {said.content}"
    done = await attempt(
        client, where, deps.machine.add_note(esc.id, author, note, from_slack=True)
    )
    if done is not None and relayed:
        await tell(client, where, notices.edit_not_relayed())


async def _change_of(deps: Deps, esc_id: str, ts: str) -> SlackChange:
    relayed = await threads.relayed(deps.db, esc_id, ts)
    return SlackChange.TOO_LATE if relayed else SlackChange.NOT_SENT


async def _deleted(deps: Deps, client: AsyncWebClient, ours: _Ours, event: dict[str, Any]) -> None:
    """A deletion within the edit window withdraws the message from the customer too;
    after it the customer keeps it, the owner is told, and the trail keeps a note."""
    previous = event.get("previous_message") or {}
    found = await _in_a_thread(deps, client, ours, event.get("channel", ""), previous)
    if found is None:
        return
    esc, where, author = found
    delete = deps.machine.delete_slack_reply(esc.id, author, previous.get("ts", ""))
    change = await attempt(client, where, delete)
    if change != SlackChange.TOO_LATE:
        return  # withdrawn; or a note or an unsent message (nothing to account for); or told
    said = await _customer_text(deps, client, previous)
    note = f"Deleted in Slack a message the customer already has: {said.content}"
    done = await attempt(
        client, where, deps.machine.add_note(esc.id, author, note, from_slack=True)
    )
    if done is not None:
        await tell(client, where, notices.delete_not_relayed())
