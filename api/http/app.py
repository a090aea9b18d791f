"""The app factory: builds every service once and wires the routes."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI

from api.config import Config
from api.http.body_limit import BodyLimitMiddleware
from api.http.docs import documented_app
from api.http.errors import install_error_handlers
from api.http.metrics import Metrics, MetricsMiddleware
from api.http.ratelimit import make_rate_limiter
from api.http.routes import escalations, files, health, slack, stats
from api.keys import ApiKeys
from api.notification_config import EmailEntry, WebhookEntry
from api.relay.callback_urls import Resolver, system_resolver
from api.relay.file_fetch import FileFetcher
from api.relay.notifications import Mail, Notifier
from api.relay.platform import Relay, RelayMetrics
from api.services import Services
from api.settings import Settings
from api.slack_files import SlackFiles
from api.slack_setup import slack_config
from bot.app import build_app_homes, build_slack_app, http_handler, socket_mode_handler
from bot.client import people_client, worker_client
from bot.delivery import SlackDelivery, SlackMetrics
from bot.digest import DigestPoster
from bot.links import ThreadLinks
from bot.pacing import ChannelPacer
from bot.people import People
from scheduler.jobs import DailyDigest
from scheduler.setup import Schedule, build_scheduler
from storage import idempotency, slack_events
from storage.clock import Clock
from storage.database import Database
from storage.machine import Machine
from storage.migrate import upgrade
from storage.models import Topic
from storage.notifications import Notices


def build_services(
    settings: Settings,
    config: Config | None = None,
    *,
    clock: Clock | None = None,
    resolver: Resolver = system_resolver,
) -> Services:
    config = config if config is not None else settings.load_config()
    db = Database(
        settings.database_url,
        clock=clock,
        pool_size=config.database.pool_size,
        max_overflow=config.database.max_overflow,
        connect_timeout=config.database.connect_timeout.total_seconds(),
    )
    slack = slack_config(settings, config)
    metrics = Metrics()
    return Services(
        settings=settings,
        config=config,
        db=db,
        machine=Machine(
            db,
            config.customer_texts(),
            config.sla_policy(),
            edit_window=config.relay.edit_window,
            file_links=settings.file_links(db.clock, config.files.url_ttl),
            notices=Notices(db, config.subscriptions()),
            moves=metrics.count_move,
        ),
        box=settings.secret_box(),
        limiter=make_rate_limiter(db, config.api.rate_limit),
        metrics=metrics,
        keys=ApiKeys(db),
        resolver=resolver,
        slack=slack,
        homes=build_app_homes(slack, db) if slack is not None else None,
        people=People(db, people_client(slack)) if slack is not None else None,
        slack_files=SlackFiles(slack.bot_token, slack.api_url) if slack is not None else None,
    )


def build_relay(svc: Services) -> Relay:
    return Relay(
        svc.db,
        svc.box,
        allow_private=svc.settings.allow_private_callbacks,
        resolver=svc.resolver,
        metrics=RelayMetrics(svc.metrics.registry),
    )


def build_notifier(svc: Services) -> Notifier | None:
    """None unless [[notifications]] has email or webhook entries."""
    entries = [e for e in svc.config.notifications if isinstance(e, EmailEntry | WebhookEntry)]
    if not entries:
        return None
    smtp = svc.config.smtp
    mail = (
        Mail(smtp.server(svc.settings.smtp_password), svc.config.email_templates())
        if smtp is not None
        else None
    )
    return Notifier(
        svc.db,
        entries,
        mail=mail,
        links=ThreadLinks(svc.db, worker_client(svc.slack)) if svc.slack is not None else None,
        allow_private=svc.settings.allow_private_callbacks,
        resolver=svc.resolver,
    )


def build_slack_delivery(svc: Services) -> SlackDelivery | None:
    if svc.slack is None:
        return None
    return SlackDelivery(
        svc.db,
        worker_client(svc.slack),
        svc.slack.router,
        pacer=ChannelPacer(svc.slack.post_interval),
        metrics=SlackMetrics(svc.metrics.registry),
        managers_channel=svc.slack.managers_channel,
        oncall_group=svc.slack.oncall_group,
        files=FileFetcher(
            max_bytes=svc.config.files.max_bytes,
            allow_private=svc.settings.allow_private_callbacks,
            resolver=svc.resolver,
        ),
        notices=svc.slack.notices,
    )


def build_digest_poster(svc: Services) -> DigestPoster | None:
    """None unless Slack is set up with a managers' channel."""
    if svc.slack is None or not svc.slack.managers_channel:
        return None
    return DigestPoster(
        svc.db, worker_client(svc.slack), svc.slack.managers_channel, svc.config.sla.timezone
    )


def build_timed_jobs(svc: Services) -> AsyncIOScheduler:
    poster = build_digest_poster(svc)
    digest = (
        DailyDigest(svc.config.digest.time, svc.config.sla.timezone, poster.send)
        if poster is not None
        else None
    )
    schedule = Schedule(
        sla=svc.machine.sla,
        sla_sweep_every=svc.config.scheduler.sla_sweep,
        nudge_after=svc.config.scheduler.inactivity_nudge,
        digest=digest,
        drained=_drained(svc),
        auto_close_after=svc.config.lifecycle.auto_close_after,
        close_quiet=svc.machine.close_quiet,
        notices=svc.machine.notices,
    )
    return build_scheduler(svc.db, schedule)


def _drained(svc: Services) -> tuple[Topic, ...]:
    """The outbox topics this configuration has a worker drain."""
    topics = [Topic.platform]
    if svc.slack is not None:
        topics.append(Topic.slack)
    if any(isinstance(e, EmailEntry | WebhookEntry) for e in svc.config.notifications):
        topics.append(Topic.notify)
    return tuple(topics)


# Well within the 10 s or more a process manager gives a stopping process before it kills it.
STOP_GRACE = 5.0


@dataclass
class Workers:
    """The background workers of one process, stopped together."""

    relay: Relay
    slack: SlackDelivery | None
    notifier: Notifier | None
    tasks: list[asyncio.Task[None]]

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Claim nothing more, let what is under way finish for up to ``grace`` seconds."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        closing = [self.relay.aclose(grace)]
        if self.slack is not None:
            closing.append(self.slack.aclose(grace))
        if self.notifier is not None:
            closing.append(self.notifier.aclose(grace))
        await asyncio.gather(*closing)


def start_workers(svc: Services) -> Workers:
    relay = build_relay(svc)
    tasks = [asyncio.create_task(relay.run(), name="relay")]
    slack_worker = build_slack_delivery(svc)
    if slack_worker is not None:
        tasks.append(asyncio.create_task(slack_worker.run(), name="slack"))
    notifier = build_notifier(svc)
    if notifier is not None:
        tasks.append(asyncio.create_task(notifier.run(), name="notify"))
    if svc.homes is not None:
        tasks.append(asyncio.create_task(svc.homes.run(), name="app-homes"))
    return Workers(relay, slack_worker, notifier, tasks)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    migrate: bool = True,
    run_scheduler: bool = True,
    run_workers: bool = True,
) -> FastAPI:
    """``migrate`` brings the schema up to date at start-up (``baton serve`` does);
    ``run_scheduler`` runs the timed jobs in this process, ``run_workers`` the outbox
    workers (the platform relay)."""
    svc = services or build_services(settings or Settings())
    slack_app = (
        build_slack_app(svc.slack, svc.db, svc.machine, svc.homes, svc.people)
        if svc.slack is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade(svc.db)
        if svc.db.is_sqlite:
            # The embedded database serves one process: a key or a Slack event in flight
            # is from a crash.
            await idempotency.release_in_flight(svc.db)
            await slack_events.release_in_flight(svc.db)
        scheduler = build_timed_jobs(svc) if run_scheduler else None
        if scheduler is not None:
            scheduler.start()
        workers = start_workers(svc) if run_workers else None
        # Socket Mode connects (and reconnects) in the background: start-up never waits
        # on Slack. Its handler is built here, on the running loop, because it opens its
        # aiohttp session as it is made.
        socket_mode = (
            socket_mode_handler(slack_app, svc.slack)
            if slack_app is not None and svc.slack is not None
            else None
        )
        connecting = (
            asyncio.create_task(socket_mode.connect_async(), name="socket-mode")
            if socket_mode is not None
            else None
        )
        try:
            yield
        finally:
            if socket_mode is not None and connecting is not None:
                connecting.cancel()
                await asyncio.gather(connecting, return_exceptions=True)
                await socket_mode.close_async()
            if workers is not None:
                await workers.stop()
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if svc.slack_files is not None:
                await svc.slack_files.aclose()
            await svc.db.dispose()

    app = documented_app(lifespan)
    app.state.services = svc
    app.state.slack_handler = http_handler(slack_app) if slack_app is not None else None
    install_error_handlers(app)
    app.include_router(escalations.router)
    app.include_router(files.router)
    app.include_router(health.router)
    app.include_router(stats.router)
    app.include_router(slack.router)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    return app
