"""Modal submissions: Reply, Close, (Re)assign and Priority. Input is checked first, so that
mistakes show in the modal; then the change runs, and Slack is answered when it is done, or
once Slack's time is nearly up (see ``submit``): a database that did not answer shows in
the modal too, with what was typed kept."""

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import Input, View
from blocks.modals import read_assignee, read_close, read_priority, read_reply, read_suggestion
from bot.listeners.common import Deps, Where, submit
from bot.people import NotAnAgent, SlackUnreachable

# Looking the chosen person up comes out of Slack's 3 seconds, before the change's own time.
LOOKUP_WITHIN = 0.8


UNREACHABLE = "Slack did not say who that is just now. Please try again."


def _submitted(body: dict[str, Any]) -> tuple[str, Where, dict[str, Any]]:
    view = body["view"]
    esc_id, where = Where.from_metadata(view.get("private_metadata", ""), body["user"]["id"])
    return esc_id, where, view["state"]["values"]


def register(app: AsyncApp, deps: Deps) -> None:
    machine, people = deps.machine, deps.people

    @app.view(View.REPLY)
    async def reply(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        esc_id, where, values = _submitted(body)
        text = read_reply(values)
        if not text:
            await ack(response_action="errors", errors={Input.REPLY_TEXT: "Write a reply first."})
            return

        async def change() -> Any:
            return await machine.reply(esc_id, await deps.actor_of(body), text)

        await submit(ack, client, where, change(), Input.REPLY_TEXT)

    @app.view(View.SUGGESTION)
    async def edited_suggestion(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """The bot's suggestion as the owner edited it: sent as their reply, once."""
        sug_id, where, values = _submitted(body)  # the modal is about the suggestion
        text = read_suggestion(values)
        if not text:
            errors = {str(Input.SUGGESTION_TEXT): "Write a reply first."}
            await ack(response_action="errors", errors=errors)
            return

        async def change() -> Any:
            return await machine.send_suggestion(sug_id, await deps.actor_of(body), text)

        await submit(ack, client, where, change(), Input.SUGGESTION_TEXT)

    @app.view(View.CLOSE)
    async def close(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        esc_id, where, values = _submitted(body)
        resolution, note, keep_paused = read_close(values)

        async def change() -> Any:
            actor = await deps.actor_of(body)
            return await machine.close(
                esc_id, actor, resolution, note=note, keep_ai_paused=keep_paused
            )

        await submit(ack, client, where, change(), Input.RESOLUTION)

    @app.view(View.REASSIGN)
    async def reassign(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        esc_id, where, values = _submitted(body)
        user = read_assignee(values)
        if not user:
            await ack(response_action="errors", errors={Input.ASSIGNEE: "Choose someone."})
            return

        try:
            agent = await asyncio.wait_for(people.resolve(user), LOOKUP_WITHIN)
        except NotAnAgent as exc:
            await ack(response_action="errors", errors={Input.ASSIGNEE: f"{exc}."})
            return
        except (SlackUnreachable, TimeoutError):
            await ack(response_action="errors", errors={Input.ASSIGNEE: UNREACHABLE})
            return

        async def change() -> Any:
            return await machine.update(esc_id, await deps.actor_of(body), assignee=agent)

        await submit(ack, client, where, change(), Input.ASSIGNEE)

    @app.view(View.PRIORITY)
    async def priority(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        esc_id, where, values = _submitted(body)
        chosen = read_priority(values)
        if chosen is None:
            await ack(response_action="errors", errors={Input.PRIORITY: "Choose a priority."})
            return

        async def change() -> Any:
            actor = await deps.actor_of(body)
            return await machine.update(esc_id, actor, priority=chosen)

        await submit(ack, client, where, change(), Input.PRIORITY)
