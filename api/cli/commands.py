"""The ``baton`` command line."""

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from api.cli import deliveries, platforms
from api.cli.banner import baton_version, print_banner
from api.cli.console import out, say_error
from api.cli.installation import (
    Schema,
    build_services,
    on_database,
    read_settings,
    run_on,
)
from api.cli.problems import FAILED, USAGE, Problem, explain, is_usage_error, usage_problem
from api.demo.platform import Fault
from api.logs import configure_logging
from storage.database import Database, without_password
from storage.migrate import current_revision, head_revision, upgrade
from storage.sealing import SealError
from storage.single_server import CannotServe, serving_alone

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.services import Services

# No rich markup in help texts: a ``[digest]`` or ``[sla]`` there names a table of the
# configuration file.
app = typer.Typer(
    help="Baton: hand conversations from an AI bot to your team in Slack.",
    rich_markup_mode=None,
    no_args_is_help=True,
)
db_app = typer.Typer(help="The database schema.", rich_markup_mode=None, no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(platforms.app, name="platforms")
app.add_typer(deliveries.app, name="deliveries")


def _print_version(wanted: bool) -> None:
    if wanted:
        out.print(f"baton {baton_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def baton(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Baton: hand conversations from an AI bot to your team in Slack."""


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the timed jobs here too.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            help="Server processes sharing the port (PostgreSQL only; see benchmarks).",
        ),
    ] = 1,
) -> None:
    """Run the API (and Slack endpoint); brings the database schema up to date first."""
    import uvicorn

    from api.http.app import create_app

    services = build_services()
    url = services.settings.database_url
    if workers > 1 and services.db.is_sqlite:
        # So no lock either: the lock is one process's, and workers would each want it.
        raise Problem("--workers needs PostgreSQL: the embedded SQLite database serves one process")
    run = partial(
        uvicorn.run, host=host, port=port, log_config=None, access_log=False, proxy_headers=True
    )
    with _alone_on(url) if workers == 1 else contextlib.nullcontext():
        # Here, not in the app's start-up, so that a database that cannot be reached is one
        # line, not uvicorn's traceback.
        run_on(services.db, _ping, url, Schema.upgraded)
        print_banner(services, host, port, out)
        if workers == 1:
            run(create_app(services=services, migrate=False, run_scheduler=scheduler))
            return
        # Each worker process builds its own app from the same settings; this one only
        # supervises.
        os.environ[_WORKER_SCHEDULER] = "1" if scheduler else "0"
        run("api.cli.commands:worker_app", factory=True, workers=workers)


_WORKER_SCHEDULER = "BATON_SERVE_SCHEDULER"  # from `baton serve --workers` to its processes


def worker_app() -> "FastAPI":
    """The app of one ``baton serve --workers`` process."""
    from api.http.app import create_app

    services = build_services()
    return create_app(services=services, run_scheduler=os.environ.get(_WORKER_SCHEDULER) != "0")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (creates the database if it is a missing SQLite file)."""

    async def run(db: Database) -> tuple[str | None, str | None]:
        before = await current_revision(db)
        await upgrade(db)
        return before, await current_revision(db)

    before, after = on_database(read_settings(), run, Schema.any)
    if before == after:
        out.print(f"The schema is up to date (revision {after}).")
    else:
        out.print(f"Upgraded the schema from {before or 'empty'} to {after}.")


@db_app.command("status")
def db_status() -> None:
    """Show the schema's revision and the newest one this version knows."""

    current = on_database(read_settings(), current_revision, Schema.existing)
    head = head_revision()
    out.print(f"database: {current or 'empty'}; newest: {head}")
    if current != head:
        raise typer.Exit(code=1)


@app.command()
def manifest(
    url: Annotated[
        str | None, typer.Option(metavar="URL", help="Your Baton's public https base URL.")
    ] = None,
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode", help="For a Baton run with an app-level token.")
    ] = False,
) -> None:
    """Print the Slack app manifest, with your request URLs filled in."""
    from bot.manifest import manifest_for, manifest_yaml

    try:
        sys.stdout.write(manifest_yaml(manifest_for(url, socket_mode=socket_mode)))
    except ValueError as exc:
        raise Problem(f"--url: {exc}") from None


@app.command()
def relay() -> None:
    """Run only the platform relay worker (for a separate worker process)."""
    from api.http.app import STOP_GRACE, build_relay

    async def work(services: "Services") -> None:
        worker = build_relay(services)
        _say_running("relay: delivering events to platforms", services)
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
        typer.Option(
            "--date",
            metavar="YYYY-MM-DD",
            help="The day, in the [sla] timezone; yesterday by default.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print it here instead of posting it.")
    ] = False,
) -> None:
    """The managers' daily digest, on demand (the scheduler posts it at [digest] time)."""
    from api.cli.digest_command import post_digest, print_digest

    if not now and not dry_run:
        raise Problem("pass --now to post the digest, or --dry-run to print it here")
    if dry_run:
        settings = read_settings()
        config = settings.load_config()
        configure_logging(settings.log_level, settings.secret_values())
        print_digest(settings, config, day, out)
    else:
        post_digest(build_services(), day, out)


@app.command("scheduler")
def scheduler_command() -> None:
    """Run only the timed jobs (SLA sweep, owner nudges, daily digest, outbox sweep, purges),
    e.g. beside `baton serve --no-scheduler`."""
    from api.http.app import build_timed_jobs

    async def work(services: "Services") -> None:
        jobs = build_timed_jobs(services)
        jobs.start()
        _say_running("scheduler: running the timed jobs", services)
        try:
            await asyncio.Event().wait()
        finally:
            jobs.shutdown(wait=False)

    _run_alone(work)


@app.command()
def demo(
    db: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="SQLite file (or database URL) to keep; a temporary file by default.",
        ),
    ] = None,
    step: Annotated[bool, typer.Option("--step", help="Wait for Enter between steps.")] = False,
    timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="How long each step may wait for its effect.", min=0.1
        ),
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
            raise Problem(str(exc), FAILED) from None
        except (RuntimeError, SealError, OSError) as exc:
            raise Problem(f"the demo could not start: {exc}", FAILED) from None


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
        table.add_row(marks[finding.outcome], Text(finding.check), said)
    out.print(table)
    problems = sum(f.outcome is Outcome.failed for f in findings)
    if problems:
        out.print(f"\n[red]{problems} problem{'s' if problems > 1 else ''}[/] to fix.")
        raise typer.Exit(code=1)
    out.print(f"\n[green]All {len(findings)} checks passed.[/]")


def _ping(db: Database) -> Awaitable[None]:
    return db.ping()


@contextlib.contextmanager
def _alone_on(database_url: str) -> Iterator[None]:
    """Hold the embedded database's lock (storage.single_server) while the block runs: this
    process drains its outbox. Refuses to start, on one line, if another process does."""
    try:
        with serving_alone(database_url):
            yield
    except CannotServe as exc:
        raise Problem(str(exc), FAILED) from None


def _run_alone(
    work: Callable[["Services"], Awaitable[None]], *, drains_outbox: bool = False
) -> None:
    """Run one background part of Baton as a process of its own, until interrupted."""
    services = build_services()
    url = services.settings.database_url

    async def run() -> None:
        try:
            await work(services)
        finally:
            await services.db.dispose()

    held = _alone_on(url) if drains_outbox else contextlib.nullcontext()
    with held, contextlib.suppress(KeyboardInterrupt):
        run_on(services.db, _ping, url, Schema.upgraded)
        asyncio.run(run())


def _say_running(what: str, services: "Services") -> None:
    """The line that says a background process is at work (its libraries log warnings only)."""
    shown = without_password(services.settings.database_url)
    out.print(f"Baton {what}, on {shown}.", highlight=False)


def main() -> None:
    """Every command's errors end here: a problem a person can fix is one line and exit
    status 2 (1 when what was asked was tried and failed); a bug keeps its traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(FAILED)
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `baton platforms`: its help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(USAGE)
        found = usage_problem(exc) if is_usage_error(exc) else explain(exc)
        if found is None:
            raise
        say_error(found.args[0])
        sys.exit(found.code)
    sys.exit(code if isinstance(code, int) else 0)
