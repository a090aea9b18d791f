"""PostgreSQL restarts under traffic. The real ``baton serve`` reaches the real PostgreSQL
through a TCP proxy that holds every byte for a moment (so requests are in flight), then
resets every connection and refuses new ones for two seconds, as a restarting server does.
Requests in that window fail with 503 and the error envelope (never 500, never a hang), the
service is ready again soon after, and nothing answered 201 is lost: not the escalation,
not its card, not its event for the platform."""

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from storage.models import Escalation
from tests.bot.conftest import eventually
from tests.conftest import fresh_pg_database
from tests.faults.stack import Stack, new_escalation, running_stack
from tests.faults.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

CLIENT_TIMEOUT = 10.0  # what a platform would wait for an answer
OUTAGE = 2.0  # about as long as a PostgreSQL restart
PACE = 0.1  # between one loop's requests: steady traffic, not a flood
STALL = 1.0  # the proxy holds every byte this long before the cut: requests are in flight


@dataclass
class Answer:
    """What came of one request: its kind, when it was sent and answered, and how."""

    what: str
    sent: float
    answered: float
    status: int | None  # None: no answer at all (connection error or the client's timeout)
    body: Any = None


@dataclass
class Traffic:
    """Creates and reads from a platform, and a load balancer's readiness probe, until
    stopped; every answer kept."""

    api: httpx.AsyncClient
    answers: list[Answer] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, what: str, method: str, path: str, body: Any = None) -> Answer:
        sent = time.monotonic()
        try:
            response = await self.api.request(method, path, json=body)
        except httpx.HTTPError as exc:
            answer = Answer(what, sent, time.monotonic(), None, repr(exc))
        else:
            answer = Answer(what, sent, time.monotonic(), response.status_code, _json(response))
        self.answers.append(answer)
        return answer

    async def creates(self) -> None:
        for number in itertools.count():
            answer = await self.call("create", "POST", "/v1/escalations", new_escalation(number))
            if answer.status == 201:
                self.created.append(answer.body["id"])
            if await _stopped(self.stopped, PACE):
                return

    async def reads(self) -> None:
        while not await _stopped(self.stopped, PACE):
            if self.created:
                await self.call("read", "GET", f"/v1/escalations/{self.created[-1]}")

    async def probe(self) -> None:
        while not await _stopped(self.stopped, PACE):
            await self.call("readyz", "GET", "/readyz")

    def run(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(loop()) for loop in (self.creates, self.reads, self.probe)]


async def _stopped(event: asyncio.Event, seconds: float) -> bool:
    """Waits up to ``seconds`` for ``event``; whether it came."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@contextmanager
def _proxied(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the database at ``database_url``, and the URL through it."""
    direct = make_url(database_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    try:
        through = direct.set(host="127.0.0.1", port=proxy.port)
        yield proxy, through.render_as_string(hide_password=False)
    finally:
        proxy.stop()


def _unavailable(answer: Answer) -> bool:
    """A 503 in the API's error envelope."""
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    return (
        answer.status == 503
        and isinstance(error, dict)
        and error.get("code") == "unavailable"
        and isinstance(error.get("message"), str)
        and "details" in error
    )


async def _stored(stack: Stack) -> set[str]:
    """The ids of every escalation in the database."""
    async with stack.database() as db, db.read() as s:
        return set((await s.execute(select(Escalation.id))).scalars())


async def _outage(proxy: TcpProxy) -> tuple[float, float]:
    """PostgreSQL stalls, goes away for ``OUTAGE`` seconds and listens again: when it began
    to stall and when it came back."""
    stalled = time.monotonic()
    await asyncio.to_thread(proxy.outage, STALL)
    await asyncio.sleep(OUTAGE)
    restoring = time.monotonic()
    await asyncio.to_thread(proxy.restore)
    return stalled, restoring


def _ready_since(traffic: Traffic, when: float) -> Answer | None:
    """The first ``/readyz`` sent after ``when`` that said 200."""
    return next(
        (a for a in traffic.answers if a.what == "readyz" and a.sent > when and a.status == 200),
        None,
    )


async def test_database_restart_answers_503_recovers_and_loses_nothing(tmp_path: Path) -> None:
    with (
        fresh_pg_database("baton_outage") as url,
        _proxied(url) as (proxy, proxied_url),
        running_stack(tmp_path, url, served_database_url=proxied_url) as stack,
    ):
        baton = stack.start()
        async with stack.api(baton, timeout=CLIENT_TIMEOUT) as api:
            traffic = Traffic(api)
            running = traffic.run()
            await eventually(lambda: len(traffic.created) >= 5, what="creates before the outage")
            assert proxy.accepted > 0  # Baton reaches PostgreSQL through the proxy
            stalled, restoring = await _outage(proxy)
            ready = await eventually(
                lambda: _ready_since(traffic, restoring), 15, "/readyz to say 200 again"
            )
            before = len(traffic.created)
            await eventually(lambda: len(traffic.created) >= before + 5, what="creates afterwards")
            traffic.stopped.set()
            await asyncio.gather(*running)

            # Nothing but 2xx and 503, every answer in time; in the outage, only 503s.
            answers = traffic.answers
            assert [a for a in answers if a.status not in (200, 201, 503)] == []
            assert all(_unavailable(a) for a in answers if a.status == 503)
            in_outage = [a for a in answers if a.sent >= stalled and a.answered <= restoring]
            assert {a.what for a in in_outage} == {"create", "read", "readyz"}
            assert [a for a in in_outage if a.status != 503] == []
            # Requests still unanswered when the cut came were cut mid-way, not only refused.
            cut = stalled + STALL
            in_flight = [a for a in answers if a.sent < cut <= a.answered]
            assert "create" in {a.what for a in in_flight}
            assert [a for a in in_flight if a.status != 503] == []
            # Once ready again, every create succeeds.
            afterwards = [a for a in answers if a.what == "create" and a.sent > ready.answered]
            assert afterwards and all(a.status == 201 for a in afterwards)

            # Every 201 is stored and can be read back.
            stored = await _stored(stack)
            assert set(traffic.created) <= stored
            for esc_id in traffic.created:
                assert (await api.get(f"/v1/escalations/{esc_id}")).status_code == 200

        # The outbox workers came through: every stored escalation (a 503 whose commit went
        # through included) gets its card, once, and its event for the platform.
        await stack.settled()
        announced = {
            e.body["data"]["escalation_id"]
            for e in stack.events().values()
            if e.body["type"] == "escalation.created"
        }
        assert stored <= announced
        assert stored <= set(stack.cards())
