"""The engine, and the two kinds of transaction Baton runs: reads and writes.

SQLite allows one writer at a time. Writes take an in-process lock and open with
``BEGIN IMMEDIATE``, so a write never starts as a read and then fails to upgrade its lock
("database is locked"); another process still waits on the busy timeout. Reads run
concurrently beside them (WAL). PostgreSQL needs neither: writes there rely on
conditional updates and unique indexes.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from storage.clock import Clock, SystemClock

SQLITE_BUSY_TIMEOUT_MS = 30_000
# asyncpg's own default is 60 s: a server that takes connections and never answers would
# hold a request that long.
CONNECT_TIMEOUT = 10.0
_WRITE = "baton_write"


def normalize_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``sqlite:///``) and pick async drivers."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def without_password(url: str) -> str:
    """The URL as it may be shown to a person: its password, if any, masked."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine and its transactions; built once by the app and passed down."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        pool_size: int = 10,
        max_overflow: int = 30,
        connect_timeout: float = CONNECT_TIMEOUT,
        echo: bool = False,
    ) -> None:
        """``pool_size``, ``max_overflow`` and ``connect_timeout`` (seconds, also the
        longest wait for a free connection of the pool) apply to PostgreSQL."""
        self.url = normalize_url(url)
        self.clock: Clock = clock or SystemClock()
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=connect_timeout,
                pool_pre_ping=True,
                connect_args={"timeout": connect_timeout},
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._on_commit: list[Callable[[], None]] = []
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _report_unreachable_as_operational(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Any) -> Any:
        """This database's INSERT, which knows ``ON CONFLICT`` (PostgreSQL's or SQLite's)."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends, or rolls back if it raises.

        ``notify=False`` keeps the commit from waking the outbox workers (a worker's own
        bookkeeping must not wake itself in a loop)."""
        async with (
            self._write_lock or nullcontext(),
            AsyncSession(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
        if notify:
            for callback in self._on_commit:
                callback()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed write (e.g. to wake an outbox worker)."""
        self._on_commit.append(callback)

    async def ping(self) -> None:
        """Ask the database for the simplest answer; raises if it cannot give one."""
        async with self.read() as s:
            await s.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE matched. ``AsyncSession.execute`` is typed as
    returning any ``Result``, but for these statements it is a ``CursorResult``."""
    return cast(CursorResult[Any], result).rowcount


# The base of every error the database layer raises, whether the statement or the database
# failed: callers outside storage catch this name, never SQLAlchemy's own.
DatabaseError = SQLAlchemyError
# What a failing database raises: its errors, and the bare OSError asyncpg may let out when
# a connection breaks.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DatabaseError, OSError)

# SQLSTATEs of a server that cannot take the connection now: connection exceptions (08),
# insufficient resources such as too many clients (53), and a server starting up or
# shutting down (57P01-57P03).
_UNAVAILABLE_STATES = ("08", "53", "57P01", "57P02", "57P03")


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached, could not take the connection now, or the
    connection broke (asyncpg may let a bare OSError out when it does), or every connection
    of the pool stayed busy: trying again later may work (unlike an error in the
    statement)."""
    if isinstance(exc, OperationalError | PoolTimeout | OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or ""
    return exc.connection_invalidated or state.startswith(_UNAVAILABLE_STATES)


def cause(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's wrapping, or ``exc`` itself."""
    return getattr(exc, "orig", None) or exc


def _report_unreachable_as_operational(engine: AsyncEngine) -> None:
    """A server that cannot be reached (refused, timed out, restarting) raises the driver's
    OperationalError, as PEP 249 has it, not a bare OSError: SQLAlchemy then wraps it like
    any other database error and callers see one kind of "database unavailable"."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:
            raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc}") from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
