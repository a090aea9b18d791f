"""The installation a command works on: its settings, its services, its database.

Commands that only read open an existing database and leave it as it is: they never create
one (an empty ``./baton.db`` in the wrong directory looks like lost data), nor migrate it.
"""

import asyncio
import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from api.cli.problems import Problem, database_problem
from api.logs import configure_logging, level_named
from api.settings import Settings
from storage.database import DATABASE_ERRORS, Database, without_password
from storage.migrate import current_revision, head_revision, upgrade

if TYPE_CHECKING:
    from api.services import Services

T = TypeVar("T")
BACKENDS = ("sqlite", "postgresql", "postgres")


class Schema(enum.Enum):
    """What a command needs of the database before it works on it."""

    any = "any"  # as it is, created if missing (`baton db upgrade`)
    existing = "existing"  # one that exists, whatever its schema (`baton db status`)
    current = "current"  # one that exists, its schema up to date: read-only commands
    upgraded = "upgraded"  # brought up to date first, created if missing: commands that write


def read_settings() -> Settings:
    settings = Settings()
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """What pydantic cannot check by type: a database Baton can use, a known log level."""
    scheme = settings.database_url.partition("://")[0] if "://" in settings.database_url else ""
    if scheme.split("+")[0] not in BACKENDS:
        given = f"{scheme}:// is" if scheme else "it is not a database URL, so it is"
        raise Problem(
            f"BATON_DATABASE_URL: {given} not supported; use postgresql://USER:PASSWORD@HOST/"
            "DATABASE, or sqlite:///PATH (the default is sqlite:///baton.db)"
        )
    level_named(settings.log_level)


def build_services() -> "Services":
    """Every service, from the settings; logging set up to mask every secret they hold."""
    from api.http import app

    settings = read_settings()
    try:
        services = app.build_services(settings)
    except RuntimeError as exc:  # a setting missing: Slack's half set up, or the secret key
        raise Problem(str(exc)) from None
    configure_logging(
        settings.log_level, [*settings.secret_values(), *services.config.secret_values()]
    )
    return services


def on_database(settings: Settings, work: Callable[[Database], Awaitable[T]], schema: Schema) -> T:
    """Run ``work`` on the configured database, as ``schema`` says."""
    if schema in (Schema.existing, Schema.current):
        must_exist(settings)
    return run_on(Database(settings.database_url), work, settings.database_url, schema)


def run_on(
    db: Database,
    work: Callable[[Database], Awaitable[T]],
    url: str,
    schema: Schema = Schema.any,
) -> T:
    """Run ``work`` on ``db`` in an event loop of its own and let its connections go after;
    a database that cannot be reached or refuses is one Problem that names it."""

    async def run() -> T:
        try:
            if schema is Schema.upgraded:
                await upgrade(db)
            elif schema is Schema.current:
                await _must_be_current(db, url)
            return await work(db)
        except DATABASE_ERRORS as exc:
            raise database_problem(url, exc) from None
        finally:
            await db.dispose()

    return asyncio.run(run())


def must_exist(settings: Settings) -> None:
    path = settings.sqlite_path
    if path is not None and not path.exists():
        raise Problem(
            f"no database at {path}: run `baton db upgrade` to create one here, or point "
            "BATON_DATABASE_URL at yours"
        )


async def _must_be_current(db: Database, url: str) -> None:
    current, head = await current_revision(db), head_revision()
    if current is None:
        raise Problem(
            f"no Baton database at {without_password(url)} (it has no schema): run "
            "`baton db upgrade`, or point BATON_DATABASE_URL at yours"
        )
    if current != head:
        raise Problem(
            f"the database at {without_password(url)} is at revision {current}; this Baton "
            f"needs {head}: run `baton db upgrade`"
        )
