"""Shared fixtures: a real database per test (SQLite file, or the local PostgreSQL), and the
real app served in-process over ASGI.

PostgreSQL comes from ``BATON_TEST_PG_URL`` (default: the local server's ``test`` database).
Each run creates a database of its own and drops it at the end. Without a server those
tests skip, unless ``BATON_REQUIRE_PG=1`` (as in CI), which makes that a failure.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from api.config import ApiSection, Config
from api.http.app import build_services, create_app
from api.services import Services
from api.settings import Settings
from storage.clock import ManualClock, SystemClock
from storage.database import Database
from storage.migrate import upgrade
from storage.models import OutboxRow, Topic
from storage.platforms import NewPlatform, add_platform
from storage.sealing import new_secret_key
from tests.receiver import Receiver

PG_URL = os.environ.get("BATON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("BATON_REQUIRE_PG") == "1"
TEST_SECRET_KEY = new_secret_key()
# The SMTP server's password in the notification tests, and a wrong one: neither may be logged.
SMTP_PASSWORD, WRONG_SMTP_PASSWORD = "smtp-Pa55word-for-tests", "not-the-smtp-Pa55word"
T = TypeVar("T")
# Every log of the session is scanned for secrets at its end (see tests/secret_scan.py).
pytest_plugins = ["tests.secret_scan"]

# Hypothesis and a few tests run many examples; keep each fast and deterministic.
os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a loop of its own (for set-up outside the test loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own, dropped afterwards. Without a server the
    test is skipped, or fails under ``BATON_REQUIRE_PG=1``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"no PostgreSQL at {make_url(PG_URL).render_as_string()}: {exc}"
        if REQUIRE_PG:
            pytest.fail(f"BATON_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this run's own, migrated; dropped at the end."""
    with fresh_pg_database("baton_test") as url:
        run_in_thread(lambda: _migrate(url))
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "baton.db"
    run_in_thread(lambda: _migrate(f"sqlite:///{path}"))
    return path


async def _truncate(url: str) -> None:
    db = Database(url)
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    async with db.write() as s:
        await s.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "baton.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    run_in_thread(lambda: _truncate(url))
    return url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "allow_private_callbacks": True,
        "config_path": None,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Env:
    """The running app, its services and a client, plus a registered platform."""

    services: Services
    client: httpx.AsyncClient
    platform: NewPlatform
    clock: ManualClock | SystemClock

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.platform.api_key}"}

    async def add_platform(self, name: str) -> NewPlatform:
        return await add_platform(self.db, self.services.box, name, "https://203.0.113.9/hook")

    async def create(self, auth: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body = escalation_body(**fields)
        response = await self.client.post("/v1/escalations", json=body, headers=auth or self.auth)
        assert response.status_code == 201, response.text
        return response.json()

    async def counts(self) -> dict[str, int]:
        """Rows per table: a refused request must leave these unchanged."""
        async with self.db.read() as s:
            return {
                t.name: (await s.execute(select(func.count()).select_from(t))).scalar_one()
                for t in SQLModel.metadata.sorted_tables
                if t.name != "rate_buckets"
            }

    async def platform_events(self, esc_id: str) -> list[dict[str, Any]]:
        """The bodies of the events queued for the platform about ``esc_id``, in order."""
        async with self.db.read() as s:
            rows = (
                await s.execute(
                    select(OutboxRow)
                    .where(OutboxRow.escalation_id == esc_id, OutboxRow.topic == Topic.platform)
                    .order_by(OutboxRow.id)
                )
            ).scalars()
            return [r.payload for r in rows]


_conversation_counter = 0


def escalation_body(**overrides: Any) -> dict[str, Any]:
    global _conversation_counter
    _conversation_counter += 1
    body: dict[str, Any] = {
        "conversation_id": f"conv_{_conversation_counter}",
        "customer": {"id": "cust_19", "name": "Nguyen Van A", "locale": "vi"},
        "channel": "whatsapp",
        "reason": "gate_failure",
        "reason_detail": "3x gate failure: repeated phrases + unverified claims",
        "priority": "high",
        "confidence": 35,
        "transcript": [
            {
                "role": "customer",
                "content": "Tôi muốn khiếu nại...",
                "timestamp": "2026-03-12T10:00:00Z",
            },
            {
                "role": "assistant",
                "content": "Mình sẽ chuyển bạn đến đội hỗ trợ nhé!",
                "timestamp": "2026-03-12T10:05:00Z",
            },
        ],
        "context": {
            "memory": {"plan": "gold"},
            "tags": ["billing"],
            "gate_audit": [],
            "tool_calls": [],
        },
    }
    body.update(overrides)
    return body


async def start_env(
    database_url: str,
    *,
    config: Config | None = None,
    manual_clock: bool = False,
    platform: str = "acme",
    **settings: Any,
) -> tuple[Env, Any]:
    """The app on ``database_url``, started, with a platform of its own named ``platform``
    (another name when the database has one already, as after a restart)."""
    clock: ManualClock | SystemClock = ManualClock() if manual_clock else SystemClock()
    # Tests fire requests far faster than any platform; the rate limit has tests of its own.
    config = config or Config(api=ApiSection(rate_limit=0))
    services = build_services(make_settings(database_url, **settings), config, clock=clock)
    app = create_app(services=services, migrate=False, run_scheduler=False, run_workers=False)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test")
    added = await add_platform(services.db, services.box, platform, "https://203.0.113.9/hook")
    return Env(services, client, added, clock), lifespan


async def _running_env(database_url: str, manual_clock: bool) -> AsyncIterator[Env]:
    environment, lifespan = await start_env(database_url, manual_clock=manual_clock)
    try:
        yield environment
    finally:
        await environment.client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    async for environment in _running_env(database_url, manual_clock=False):
        yield environment


@pytest.fixture
async def clocked_env(database_url: str) -> AsyncIterator[Env]:
    """Like ``env``, with a clock that moves only when the test moves it."""
    async for environment in _running_env(database_url, manual_clock=True):
        yield environment


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A platform's callback: a real local server that checks every signature."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


# The tests that take tens of seconds each (real processes, replicas, whole commands), run
# first: over two workers the short ones then fill in around them, instead of one worker
# finishing a long test alone at the end.
_LONG_FIRST = ("tests/faults/", "tests/test_readme.py", "tests/api/cli/test_one_server.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_LONG_FIRST))
