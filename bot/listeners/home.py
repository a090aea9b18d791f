"""The App Home: opening it, its filters and its pages. Each publishes the user's Home at
once (they are looking at it); escalation changes are the refresher's (``bot.app_home``).
If the database does not answer, the user is told in their DM with the app (the Home has
no room for an ephemeral message)."""

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.home import ALL
from blocks.ids import Action
from bot.app_home import AppHomes
from bot.listeners.common import Deps, Where, attempt
from storage import homes
from storage.models import Priority


def _chosen(action: dict[str, Any]) -> str | None:
    value = (action.get("selected_option") or {}).get("value")
    return None if value in (None, "", ALL) else str(value)


def register(app: AsyncApp, deps: Deps, app_homes: AppHomes) -> None:
    db = deps.db

    @app.event("app_home_opened")
    async def opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user = event["user"]
        await attempt(client, Where(user, user), app_homes.opened(user))

    @app.action(Action.HOME_PRIORITY)
    @app.action(Action.HOME_CHANNEL)
    async def filtered(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        chosen = _chosen(action)

        async def choose() -> None:
            if action["action_id"] == Action.HOME_PRIORITY:
                priority = chosen if chosen in set(Priority) else None
                home = await homes.choose(db, user, priority=priority)
            else:
                home = await homes.choose(db, user, channel=chosen)
            await app_homes.show(home)

        await attempt(client, Where(user, user), choose())

    @app.action(Action.HOME_PAGE)
    async def turned(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = body["user"]["id"]
        try:
            page = int(action.get("value") or 0)
        except ValueError:
            page = 0

        async def turn() -> None:
            await app_homes.show(await homes.turn_to(db, user, page))

        await attempt(client, Where(user, user), turn())

    @app.action(Action.OPEN_THREAD)
    async def opened_thread(ack: AsyncAck) -> None:
        await ack()  # the link opens in Slack; the click only needs an answer
