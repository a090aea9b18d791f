"""The bolt app: built per call (no module-level app), served at ``POST /slack/events``
through bolt's FastAPI adapter, or over Socket Mode when an app-level token is set."""

import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.app_home import AppHomes
from bot.client import listener_client, people_client, worker_client
from bot.config import SlackConfig
from bot.listeners import actions, commands, home, messages, views
from bot.listeners.common import Deps, outcome
from bot.people import People
from storage import slack_events
from storage.database import Database
from storage.machine import Machine

log = logging.getLogger("baton.slack")
_BOLT_TOKEN_VARIABLE = "SLACK_BOT_TOKEN"


def build_slack_app(
    config: SlackConfig,
    db: Database,
    machine: Machine,
    app_homes: AppHomes | None = None,
    people: People | None = None,
) -> AsyncApp:
    """``people``: shared with the REST API, so that a name looked up by one is known to
    the other."""
    with _bolt_reads_no_token():
        app = AsyncApp(
            name="baton",
            client=listener_client(config),
            signing_secret=config.signing_secret,
            logger=logging.getLogger("baton.slack.bolt"),
        )
    app.use(_once_per_event(db))
    deps = Deps(
        db,
        machine,
        people or People(db, people_client(config)),
        max_file_bytes=config.max_file_bytes,
    )
    actions.register(app, deps)
    views.register(app, deps)
    messages.register(app, deps)
    app_homes = app_homes or build_app_homes(config, db)
    home.register(app, deps, app_homes)
    commands.register(app, deps, app_homes.links)
    return app


@contextmanager
def _bolt_reads_no_token() -> Iterator[None]:
    """Bolt reads ``SLACK_BOT_TOKEN`` itself, even when given a client, and then warns on
    every start that the token will be unused. The client, built from Baton's settings, is
    the only source of the token: bolt does not see the variable while the app is built."""
    token = os.environ.pop(_BOLT_TOKEN_VARIABLE, None)
    try:
        yield
    finally:
        if token is not None:
            os.environ[_BOLT_TOKEN_VARIABLE] = token


def build_app_homes(config: SlackConfig, db: Database) -> AppHomes:
    """Publishes App Homes; its own client, as 429s are waited out by it, not retried blindly."""
    return AppHomes(db, worker_client(config))


def _once_per_event(db: Database) -> Callable[..., Awaitable[Any]]:
    """Slack retries an event it thinks we missed, with the same ``event_id``: drop those.
    Messages are not recorded here, before they are handled, but by their listener once
    handled (``bot.listeners.messages``): one whose handling a crash cut short is handled
    when Slack sends it again. If the database cannot say, the event is handled: its
    listener meets the same database, and tells the person who is waiting on it."""

    async def once_per_event(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if (
            event_id
            and not messages.is_message(body)
            and await outcome(slack_events.first_sight(db, str(event_id))) is False
        ):
            log.info("slack: event %s seen before (a retry); ignored", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    return once_per_event


def http_handler(app: AsyncApp) -> AsyncSlackRequestHandler:
    return AsyncSlackRequestHandler(app)


def socket_mode_handler(app: AsyncApp, config: SlackConfig) -> AsyncSocketModeHandler | None:
    if not config.app_token:
        return None
    return AsyncSocketModeHandler(app, config.app_token)
