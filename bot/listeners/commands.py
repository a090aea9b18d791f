"""``/escalations mine | waiting | search TEXT | help``, answered ephemerally.

The answer goes in the acknowledgement itself when it is ready in time; if the database is
slow it is acknowledged with "Looking…" before Slack's 3 seconds run out, and the answer
follows through the command's ``response_url``.
"""

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from blocks import commands
from blocks.card import CardMessage
from blocks.queue_entry import Entry
from bot.links import ThreadLinks
from bot.listeners.common import ANSWER_WITHIN, Deps, Failed, outcome
from storage import queue, search
from storage.queue import Group, QueueFilter


def register(app: AsyncApp, deps: Deps, links: ThreadLinks) -> None:
    @app.command(commands.COMMAND)
    async def escalations(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        answering = asyncio.ensure_future(
            answer(deps, links, command.get("user_id", ""), command.get("text") or "")
        )
        try:
            message = await asyncio.wait_for(asyncio.shield(answering), ANSWER_WITHIN)
        except TimeoutError:
            await ack(text="Looking…", response_type="ephemeral")
            message = await answering
            await respond(
                text=message.text,
                blocks=message.blocks_as_dicts(),
                response_type="ephemeral",
                replace_original=True,
            )
            return
        await ack(text=message.text, blocks=message.blocks_as_dicts(), response_type="ephemeral")


async def answer(deps: Deps, links: ThreadLinks, user_id: str, text: str) -> CardMessage:
    """What the user sees: the list asked for, or why there is none just now."""
    found = await outcome(_answer(deps, links, user_id, text))
    return commands.trouble() if isinstance(found, Failed) else found


async def _answer(deps: Deps, links: ThreadLinks, user_id: str, text: str) -> CardMessage:
    words = text.strip()
    sub, _, rest = words.partition(" ")
    sub = sub.lower()
    if sub in ("", "help"):
        return commands.help_message()
    if sub == "mine":
        return await _group(deps, links, user_id, Group.mine)
    if sub == "waiting":
        return await _group(deps, links, user_id, Group.waiting)
    if sub == "search":
        return await _search(deps, links, rest)
    return commands.unknown_command(words)


async def _group(deps: Deps, links: ThreadLinks, user_id: str, group: Group) -> CardMessage:
    everything = QueueFilter()
    rows = await queue.in_group(deps.db, user_id, group, everything, limit=commands.SHOWN)
    total = (await queue.counts(deps.db, user_id, everything)).of(group)
    found = await links.for_escalations([e.id for e in rows])
    entries = [Entry(esc, found.get(esc.id)) for esc in rows]
    if group == Group.mine:
        return commands.listing("Your queue", entries, total, "Nothing is assigned to you.")
    return commands.listing("Waiting, oldest first", entries, total, "Nobody is waiting. :tada:")


async def _search(deps: Deps, links: ThreadLinks, text: str) -> CardMessage:
    if len(text.strip()) < search.MIN_LENGTH:
        return commands.search_needs_text(search.MIN_LENGTH)
    found = await search.search(deps.db, text, limit=commands.SHOWN)
    urls = await links.for_escalations([h.escalation.id for h in found.hits])
    entries = [Entry(h.escalation, urls.get(h.escalation.id), h.message) for h in found.hits]
    return commands.search_results(text.strip(), entries, found.total)
