"""The ``baton`` command line."""

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from api.config import ConfigError
from api.demo.platform import Fault
from api.relay.callback_urls import UnsafeCallbackUrl, validate_for_registration
from api.settings import Settings
from storage.database import Database
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import OutboxRow, Topic
from storage.outbox import deliveries
from storage.platforms import NewPlatform, PlatformExists, add_platform, list_platforms
from storage.sealing import SealError
from storage.single_server import CannotServe, serving_alone

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.services import Services

app = typer.Typer(help="Baton: hand conversations from an AI bot to your team in Slack.")
db_app = typer.Typer(help="The database schema.")
platforms_app = typer.Typer(help="Bot platforms that send escalations.")
app.add_typer(db_app, name="db")
app.add_typer(platforms_app, name="platforms")
deliveries_app = typer.Typer(help="Events sent to platforms: inspect and replay.")
app.add_typer(deliveries_app, name="deliveries")

T = TypeVar("T")

out = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    """Say what went wrong on one line (never cut to the terminal's width: a log keeps it
    whole), as written (a ``[slack]`` in it is text, not markup)."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def _settings() -> Settings:
    return Settings()


def _with_database(
    work: Callable[[Database], Awaitable[T]],
    settings: Settings | None = None,
    *,
    migrate: bool = True,
) -> T:
    """Run ``work`` on the configured database (brought up to date first, by default)."""

    async def run() -> T:
        db = Database((settings or _settings()).database_url)
        try:
            if migrate:
                await upgrade(db)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the timed jobs here too.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes sharing the port (PostgreSQL only; see benchmarks)."
        ),
    ] = 1,
) -> None:
    """Run the API (and Slack endpoint); brings the database schema up to date first."""
    import uvicorn

    from api.http.app import create_app

    services = _services()
    run = partial(
        uvicorn.run, host=host, port=port, log_config=None, access_log=False, proxy_headers=True
    )
    if workers == 1:
        with _alone_on(services.settings.database_url):
            run(create_app(services=services, run_scheduler=scheduler))
        return
    if services.db.is_sqlite:
        # So no lock either: the lock is one process's, and workers would each want it.
        raise _fail("--workers needs PostgreSQL: the embedded SQLite database serves one process")
    # Each worker process builds its own app from the same settings; this one only supervises.
    os.environ[_WORKER_SCHEDULER] = "1" if scheduler else "0"
    run("api.cli.commands:worker_app", factory=True, workers=workers)


_WORKER_SCHEDULER = "BATON_SERVE_SCHEDULER"  # from `baton serve --workers` to its processes


def worker_app() -> "FastAPI":
    """The app of one ``baton serve --workers`` process."""
    from api.http.app import create_app

    return create_app(services=_services(), run_scheduler=os.environ.get(_WORKER_SCHEDULER) != "0")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""

    async def run(db: Database) -> tuple[str | None, str | None]:
        before = await current_revision(db)
        await upgrade(db)
        return before, await current_revision(db)

    before, after = _with_database(run, migrate=False)
    if before == after:
        out.print(f"The schema is up to date (revision {after}).")
    else:
        out.print(f"Upgraded the schema from {before or 'empty'} to {after}.")


@db_app.command("status")
def db_status() -> None:
    """Show the schema's revision and the newest one this version knows."""

    current, head = _with_database(current_revision, migrate=False), head_revision()
    out.print(f"database: {current or 'empty'}; newest: {head}")
    if current != head:
        raise typer.Exit(code=1)


@platforms_app.command("add")
def platforms_add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. acme-widget.")],
    callback_url: Annotated[
        str, typer.Option("--callback-url", help="Where Baton POSTs signed events.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Register a platform and print its API key and webhook secret, once."""
    settings = _settings()

    def register(db: Database) -> Awaitable[NewPlatform]:
        return add_platform(db, settings.secret_box(), name, callback_url)

    try:
        warning = asyncio.run(
            validate_for_registration(callback_url, allow_private=settings.allow_private_callbacks)
        )
        created = _with_database(register, settings)
    except (UnsafeCallbackUrl, PlatformExists, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    if warning:
        err.print(f"[yellow]warning:[/] {warning}")
    if as_json:
        payload = {
            "platform": created.platform.name,
            "api_key": created.api_key,
            "webhook_secret": created.webhook_secret,
        }
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    out.print(f"Registered platform [bold]{name}[/] → {callback_url}")
    out.print("Store these now; they are not shown again.")
    out.print(f"  API key:        {created.api_key}", highlight=False)
    out.print(f"  webhook secret: {created.webhook_secret}", highlight=False)


@platforms_app.command("list")
def platforms_list() -> None:
    """List registered platforms (never their secrets)."""

    for platform in _with_database(list_platforms):
        out.print(f"{platform.name}\t{platform.callback_url}\t{platform.id}", highlight=False)


@app.command()
def manifest(
    url: Annotated[str | None, typer.Option(help="Your Baton's public https base URL.")] = None,
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode", help="For a Baton run with an app-level token.")
    ] = False,
) -> None:
    """Print the Slack app manifest, with your request URLs filled in."""
    from bot.manifest import manifest_for, manifest_yaml

    try:
        sys.stdout.write(manifest_yaml(manifest_for(url, socket_mode=socket_mode)))
    except ValueError as exc:
        raise _fail(str(exc)) from None


@deliveries_app.command("list")
def deliveries_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only parked deliveries.")] = False,
    slack: Annotated[
        bool, typer.Option("--slack", help="Posts to Slack (cards, thread posts) instead.")
    ] = False,
    notifications: Annotated[
        bool,
        typer.Option(
            "--notifications", help="Emails and webhooks of the notifications entries instead."
        ),
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """List events sent (or to be sent) to platforms, posts to Slack with --slack, or
    notifications with --notifications (the type names the entry; email.hourly rows hold
    an hour's events, which wait as hourly rows until then)."""
    if slack and notifications:
        raise _fail("choose one of --slack and --notifications")
    topics = (
        (Topic.slack,)
        if slack
        else (Topic.notify, Topic.hourly)
        if notifications
        else (Topic.platform,)
    )

    def listed(db: Database) -> Awaitable[list[OutboxRow]]:
        return deliveries.list_deliveries(db, topics=topics, failed_only=failed, limit=limit)

    header = ("id", "event", "type", "escalation", "state", "attempts", "last error")
    rows = [
        (
            str(row.id),
            row.event_id or "",
            f"{row.kind} ({row.lane})" if row.lane else row.kind,
            row.escalation_id,
            str(row.state),
            str(row.attempts),
            row.last_error or "",
        )
        for row in _with_database(listed)
    ]
    if not out.is_terminal:  # piped: one tab-separated line per delivery, nothing cut
        for line in (header, *rows):
            sys.stdout.write("\t".join(line) + "\n")
        return
    table = Table(*header)
    for line in rows:
        table.add_row(*line)
    out.print(table)


@deliveries_app.command("replay")
def deliveries_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids to send again.")] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every parked delivery.")
    ] = False,
) -> None:
    """Send parked deliveries (to platforms or Slack) again; a running server picks them up
    within a second."""
    if not ids and not all_failed:
        raise _fail("name delivery ids, or pass --all-failed")

    count = _with_database(lambda db: deliveries.replay(db, None if all_failed else ids))
    out.print(f"Queued {count} parked deliver{'y' if count == 1 else 'ies'} again.")
    if ids and count < len(ids):
        raise _fail(f"{len(ids) - count} of the given ids are not parked deliveries")


@app.command()
def relay() -> None:
    """Run only the platform relay worker (for a separate worker process)."""
    from api.http.app import STOP_GRACE, build_relay

    async def work(services: "Services") -> None:
        worker = build_relay(services)
        try:
            await worker.run()
        finally:
            await worker.aclose(STOP_GRACE)

    _run_alone(work, drains_outbox=True)


@app.command()
def digest(
    now: Annotated[
        bool, typer.Option("--now", help="Post it to the managers' channel now.")
    ] = False,
    day: Annotated[
        str | None,
        typer.Option("--date", help="The day, YYYY-MM-DD in [sla] timezone; default yesterday."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print it here instead of posting it.")
    ] = False,
) -> None:
    """The managers' daily digest, on demand (the scheduler posts it at [digest] time)."""
    from api.cli.digest_command import parse_day, post_digest, print_digest

    if not now and not dry_run:
        raise _fail("pass --now to post the digest, or --dry-run to print it here")
    services = _services()
    try:
        wanted = parse_day(day, services)
        if dry_run:
            print_digest(services, wanted, out)
        else:
            post_digest(services, wanted, out)
    except ValueError as exc:
        raise _fail(str(exc)) from None


@app.command("scheduler")
def scheduler_command() -> None:
    """Run only the timed jobs (SLA sweep, owner nudges, daily digest, outbox sweep, purges),
    e.g. beside `baton serve --no-scheduler`."""
    from api.http.app import build_timed_jobs

    async def work(services: "Services") -> None:
        jobs = build_timed_jobs(services)
        jobs.start()
        try:
            await asyncio.Event().wait()
        finally:
            jobs.shutdown(wait=False)

    _run_alone(work)


@app.command()
def demo(
    db: Annotated[
        str | None,
        typer.Option(help="SQLite file (or database URL) to keep; a temporary file by default."),
    ] = None,
    step: Annotated[bool, typer.Option("--step", help="Wait for Enter between steps.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds each step may wait for its effect.", min=0.1)
    ] = 15.0,
    break_platform: Annotated[
        Fault,
        typer.Option(
            "--break-platform",
            help="Make the stand-in platform fail (down: it answers 503; wrong-secret: it "
            "refuses every signature), to see how that shows. The demo then fails.",
        ),
    ] = Fault.none,
) -> None:
    """The whole lifecycle on this machine, with no Slack account and no network: a
    stand-in Slack, a stand-in bot platform, and the real Baton between them."""
    from api.demo.run import DemoFailed, DemoOptions, run_demo
    from api.demo.stack import database_url_for

    options = DemoOptions(db=db, step=step, timeout=timeout, fault=break_platform)
    # A database of its own (the default, a temporary file) is the demo's alone; one named
    # with --db may be the one a `baton serve` is draining.
    kept = contextlib.nullcontext() if db is None else _alone_on(database_url_for(db, Path.cwd()))
    with kept:
        try:
            run_demo(options, out)
        except DemoFailed as exc:
            raise _fail(str(exc)) from None
        except (RuntimeError, SealError, OSError) as exc:
            raise _fail(f"the demo could not start: {exc}") from None


@app.command()
def doctor() -> None:
    """Check this installation (settings, database, Slack token, scopes, channels, platform
    callbacks) and say how to fix each problem; exits 0 only when every check passes."""
    from api.cli.doctor import examine
    from api.cli.findings import Outcome

    findings = asyncio.run(examine())
    marks = {Outcome.ok: "[green]✓", Outcome.failed: "[red]✗", Outcome.skipped: "[dim]-"}
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for finding in findings:
        said = Text(finding.detail)
        if finding.fix:
            said.append("\nfix: ", style="yellow").append(finding.fix)
        table.add_row(marks[finding.outcome], finding.check, said)
    out.print(table)
    problems = sum(f.outcome is Outcome.failed for f in findings)
    if problems:
        out.print(f"\n[red]{problems} problem{'s' if problems > 1 else ''}[/] to fix.")
        raise typer.Exit(code=1)
    out.print(f"\n[green]All {len(findings)} checks passed.[/]")


def _services() -> "Services":
    """Every service, from the settings; logging set up to mask every secret they hold."""
    from api.http.app import build_services
    from api.logs import configure_logging

    settings = _settings()
    try:
        services = build_services(settings)
    except (ConfigError, RuntimeError, SealError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # e.g. the key file beside a database in a missing directory
        raise _fail(f"cannot use {exc.filename or 'a file'}: {exc.strerror or exc}") from None
    configure_logging(
        settings.log_level, [*settings.secret_values(), *services.config.secret_values()]
    )
    return services


@contextlib.contextmanager
def _alone_on(database_url: str) -> Iterator[None]:
    """Hold the embedded database's lock (storage.single_server) while the block runs: this
    process drains its outbox. Refuses to start, on one line, if another process does."""
    try:
        with serving_alone(database_url):
            yield
    except CannotServe as exc:
        raise _fail(str(exc)) from None


def _run_alone(
    work: Callable[["Services"], Awaitable[None]], *, drains_outbox: bool = False
) -> None:
    """Run one background part of Baton as a process of its own, until interrupted."""
    services = _services()

    async def run() -> None:
        await upgrade(services.db)
        try:
            await work(services)
        finally:
            await services.db.dispose()

    held = _alone_on(services.settings.database_url) if drains_outbox else contextlib.nullcontext()
    with held, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def main() -> None:
    app()
