"""PostgreSQL that cannot serve a request in time: a server that takes the connection and
never answers, and a pool whose every connection is busy. Each request gets a 503 in the
error envelope soon, not a hang and not a 500."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from api.config import ApiSection, Config, DatabaseSection
from api.http.app import build_services, create_app
from api.services import Services
from tests.conftest import make_settings

# Far less than asyncpg's own connect timeout (60 s), far more than the one configured here.
PATIENCE = 20.0
# Well formed, so that finding its platform takes the database; no platform has it.
MADE_UP_KEY = {"Authorization": "Bearer btn_" + "k" * 43}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server takes connections (the kernel completes the handshake) and
    never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


@pytest.fixture
def pg_url(pg_database: str) -> str:
    return pg_database


def _services(url: str, **database: object) -> Services:
    config = Config(api=ApiSection(rate_limit=0), database=DatabaseSection(**database))
    return build_services(make_settings(url), config)


async def _client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=services, migrate=False, run_scheduler=False, run_workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://baton.test") as c:
            yield c
    await services.db.dispose()


@pytest.fixture
async def unanswered(silent_server: int) -> AsyncIterator[httpx.AsyncClient]:
    url = f"postgresql://postgres@127.0.0.1:{silent_server}/baton"
    async for client in _client(_services(url, connect_timeout=timedelta(seconds=1))):
        yield client


@pytest.fixture
async def one_connection(pg_url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    services = _services(pg_url, pool_size=1, max_overflow=0, connect_timeout="1s")
    async for client in _client(services):
        yield services, client


async def test_a_server_that_never_answers_gets_503_not_a_hang(
    unanswered: httpx.AsyncClient,
) -> None:
    ready = await asyncio.wait_for(unanswered.get("/readyz"), PATIENCE)
    assert ready.status_code == 503
    listed = await asyncio.wait_for(
        unanswered.get("/v1/escalations", headers=MADE_UP_KEY), PATIENCE
    )
    assert listed.status_code == 503
    assert listed.json()["error"]["code"] == "unavailable"
    assert listed.headers["retry-after"] == "1"


async def test_a_request_that_finds_every_connection_busy_gets_503(
    one_connection: tuple[Services, httpx.AsyncClient],
) -> None:
    services, client = one_connection
    async with services.db.read() as busy:
        await busy.execute(text("SELECT 1"))  # holds the pool's only connection
        listed = await asyncio.wait_for(
            client.get("/v1/escalations", headers=MADE_UP_KEY), PATIENCE
        )
    assert listed.status_code == 503
    assert listed.json()["error"]["code"] == "unavailable"
    # Once the connection is free again, the same request is answered (401: the key is made up).
    again = await client.get("/v1/escalations", headers=MADE_UP_KEY)
    assert again.status_code == 401
