"""Everything ``baton demo`` runs on this machine: the Slack stand-in, a stand-in bot
platform, and the real Baton app (API, ``/slack/events``, relay and Slack workers) served
by uvicorn between them, on an embedded SQLite database."""

import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from api.config import Config
from api.demo.loopback import LoopbackServer
from api.demo.platform import DemoPlatform, Fault
from api.demo.slack import SlackPeople
from api.demo.slack_standin import BOT_USER, StandIn
from api.http.app import build_services, create_app
from api.logs import configure_logging
from api.settings import Settings
from storage.database import Database
from storage.migrate import upgrade
from storage.platforms import NewPlatform, PlatformExists, add_platform

CHANNEL = "C0SUPPORT"
AGENT, AGENT_NAME = "U0MINH", "Minh"
PLATFORM_NAME = "demo-platform"
NAMES = {AGENT: AGENT_NAME, BOT_USER: "baton"}  # Slack user ids and the names shown for them


@dataclass
class DemoStack:
    database_url: str
    temporary: bool
    slack: StandIn
    platform: DemoPlatform
    baton: LoopbackServer
    api: httpx.Client  # as the platform, with its API key
    people: SlackPeople


def database_url_for(db: str | None, workdir: Path) -> str:
    """``--db``: a SQLite file path or a database URL; a file in ``workdir`` by default."""
    if db is None:
        return f"sqlite:///{workdir / 'baton.db'}"
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


@contextmanager
def running_stack(db: str | None, fault: Fault = Fault.none) -> Iterator[DemoStack]:
    """Starts every part and stops them all on the way out, whatever happened."""
    with ExitStack() as parts:
        workdir = Path(parts.enter_context(tempfile.TemporaryDirectory(prefix="baton-demo-")))
        url = database_url_for(db, workdir)
        slack = StandIn(
            token="xoxb-demo-" + secrets.token_hex(8),
            channels={CHANNEL: {BOT_USER, AGENT}},
            users={AGENT: _person(AGENT_NAME, "Minh Tran")},
        ).start()
        parts.callback(slack.stop)
        platform = DemoPlatform(fault).start()
        parts.callback(platform.stop)
        app = _LateApp()
        baton = LoopbackServer(app, "baton")
        parts.callback(baton.stop)
        settings = _settings(url, slack, baton.base_url, temporary=db is None)
        configure_logging(settings.log_level, settings.secret_values())
        registered = asyncio.run(_register(settings, platform.callback_url))
        platform.secret = registered.webhook_secret
        services = build_services(settings, Config())
        assert services.slack is not None
        # The stand-in has no rate limit; Slack's one-post-per-second pace would only slow
        # the demo down.
        services.slack = replace(services.slack, post_interval=0.0)
        app.app = create_app(services=services, migrate=False, run_scheduler=False)
        baton.start()
        api = httpx.Client(
            base_url=baton.base_url,
            headers={"Authorization": f"Bearer {registered.api_key}"},
            timeout=10,
            trust_env=False,  # everything is on loopback: no proxy in between
        )
        parts.callback(api.close)
        assert settings.slack_signing_secret is not None
        people = SlackPeople(
            slack, settings.slack_signing_secret.get_secret_value(), baton.base_url
        )
        yield DemoStack(url, db is None, slack, platform, baton, api, people)


class _LateApp:
    """An ASGI app given once it is built: Baton's links name its address, known only once
    the server that will serve it has its port."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the app is served before it was given"
        await self.app(scope, receive, send)


def _settings(url: str, slack: StandIn, public_url: str, *, temporary: bool) -> Settings:
    """Only the demo's own settings: a Slack token or channel in the environment must not
    send the demo anywhere else."""
    values: dict[str, Any] = {
        "database_url": url,
        "config_path": None,
        "allow_private_callbacks": True,  # the platform listens on loopback
        "slack_bot_token": slack.token,
        "slack_signing_secret": secrets.token_hex(16),
        "slack_app_token": None,
        "slack_api_url": slack.url,
        "escalation_channel": CHANNEL,
        "managers_channel": None,
        "log_level": "WARNING",
        "public_url": public_url,  # the links to agents' files name Baton here
    }
    if temporary:
        values["secret_key"] = None  # a key file beside the temporary database
    return Settings(**values)


async def _register(settings: Settings, callback_url: str) -> NewPlatform:
    """The demo platform, registered as ``baton platforms add`` would (a fresh name when an
    earlier demo left one in the ``--db`` database)."""
    db = Database(settings.database_url)
    try:
        await upgrade(db)
        box = settings.secret_box()
        name = PLATFORM_NAME
        while True:
            try:
                return await add_platform(db, box, name, callback_url)
            except PlatformExists:
                name = f"{PLATFORM_NAME}-{secrets.token_hex(3)}"
    finally:
        await db.dispose()


def _person(display: str, real: str) -> dict[str, Any]:
    return {
        "name": display.lower(),
        "real_name": real,
        "profile": {"display_name": display, "real_name": real, "email": f"{display}@demo.test"},
    }
