"""A production-shaped stack for fault tests: real ``baton serve`` processes between the Slack
stand-in and a platform receiver that verifies every signed event.

Cards are routed over many channels by a ``[[routing]]`` table in the configuration file:
Baton keeps to Slack's pace of one post per second per channel, so hundreds of cards in one
channel would take minutes, while the same cards spread the way a team routes them by
customer channel go out in seconds, with the pacer still at work.
"""

import asyncio
import random
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from api.demo.slack_standin import BOT_USER, StandIn, StoredMessage
from storage.database import Database
from storage.models import DeliveryState, OutboxRow
from tests.bot.conftest import CROWD, SIGNING_SECRET, eventually, people
from tests.conftest import TEST_SECRET_KEY, escalation_body
from tests.processes import clean_env, free_port, register_platform, start_serve, wait_ready
from tests.receiver import Received, Receiver
from tests.slack_requests import SlackRequest, SlackSigner

AGENTS = CROWD
CHANNELS = [f"C0FAULT{n:02d}" for n in range(100)]
SLACK_PATIENCE = 3.0  # Slack gives up on an answer after three seconds, then retries
SLACK_RETRIES = 3  # and it retries an event three times


def _config(more: str = "") -> str:
    """No request budget (the bursts are the point) and one routing rule per channel, then
    ``more``."""
    rules = "".join(
        f'\n[[routing]]\ncustomer_channel = ["web-{n:02d}"]\nslack_channel = "{channel}"\n'
        for n, channel in enumerate(CHANNELS)
    )
    return f'[api]\nrate_limit = "0"\n{rules}\n{more}'


def new_escalation(n: int) -> dict[str, Any]:
    """The ``n``-th customer's escalation, routed to ``CHANNELS[n % len(CHANNELS)]``."""
    return escalation_body(
        channel=f"web-{n % len(CHANNELS):02d}",
        customer={"id": f"cust_{n}", "name": f"Customer {n}", "locale": "vi"},
    )


@dataclass
class Replica:
    """One ``baton serve`` process and the port it listens on."""

    process: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, as when a machine or container dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Stack:
    """What ``running_stack`` sets up: Slack, the platform, and the ``baton serve``
    replicas the test starts."""

    workdir: Path
    database_url: str
    env: dict[str, str]
    slack: StandIn
    platform: Receiver
    api_key: str
    signer: SlackSigner = field(default_factory=lambda: SlackSigner(SIGNING_SECRET))
    replicas: list[Replica] = field(default_factory=list)

    def start(self, name: str = "baton", port: int | None = None) -> Replica:
        """``baton serve`` (again, on ``port``, after a crash), its log in ``workdir/name``."""
        (replica,) = self.start_replicas(name, port=port)
        return replica

    def start_replicas(self, *names: str, port: int | None = None) -> list[Replica]:
        """A ``baton serve`` per name, started together as a deployment starts them."""
        started = []
        for name in names:
            where = self.workdir / name
            where.mkdir(exist_ok=True)
            replica_port = port or free_port()
            started.append(Replica(start_serve(where, replica_port, self.env), replica_port))
        self.replicas += started
        for replica in started:
            wait_ready(replica.base, replica.process, seconds=30)
        return started

    def api(
        self, replica: Replica, connections: int = 200, timeout: float = 30
    ) -> httpx.AsyncClient:
        """The platform's client of ``replica``, with up to ``connections`` requests at once,
        each given up on after ``timeout`` seconds without an answer."""
        return httpx.AsyncClient(
            base_url=replica.base,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections),
        )

    def slack_client(
        self, replica: Replica, patience: float = SLACK_PATIENCE, connections: int = 200
    ) -> httpx.AsyncClient:
        """Slack's side of ``replica``: it waits ``patience`` seconds for an answer."""
        return httpx.AsyncClient(
            base_url=replica.base,
            timeout=patience,
            limits=httpx.Limits(max_connections=connections),
        )

    def cards(self) -> dict[str, StoredMessage]:
        """Each escalation's card (a top-level post whose metadata names it), checked to be
        its only one."""
        found: dict[str, list[StoredMessage]] = {}
        # One pass over a copy (the stand-in's thread adds to it): tests poll this.
        for message in list(self.slack.messages.values()):
            payload = (message.metadata or {}).get("event_payload") or {}
            if message.thread_ts is None and payload.get("key") == "card":
                found.setdefault(payload["escalation_id"], []).append(message)
        twice = sorted(esc_id for esc_id, cards in found.items() if len(cards) > 1)
        assert twice == [], f"more than one card for {twice}"
        return {esc_id: card for esc_id, (card,) in found.items()}

    def events(self) -> dict[str, Received]:
        """The events the platform accepted, by webhook-id, in order of arrival, checked:
        each event has one webhook-id. Delivery is at least once: an event whose delivery
        was not recorded as done (a kill, a database that did not answer) comes again, under
        the same webhook-id and body, and the platform drops it as a repeat."""
        by_id: dict[str, Received] = {}
        for event in self.platform.delivered():
            first = by_id.setdefault(event.webhook_id, event)
            assert first.body == event.body, f"{event.webhook_id} came again with another body"
        twice = [e for e, n in Counter(_shown(e) for e in by_id.values()).items() if n > 1]
        assert twice == [], f"delivered under two webhook-ids: {twice}"
        return by_id

    async def listed(self, replica: Replica, **filters: str) -> list[dict[str, Any]]:
        """Every escalation the platform lists (``GET /v1/escalations``, page by page)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {**filters, "limit": 100}
        async with self.api(replica) as api:
            while True:
                answer = await until_answered(
                    lambda: api.get("/v1/escalations", params=params), "a list"
                )
                page = answer.json()
                found += page["data"]
                if not page["next_cursor"]:
                    return found
                params["cursor"] = page["next_cursor"]

    @asynccontextmanager
    async def database(self) -> AsyncIterator[Database]:
        """The stack's database, reached directly (not through any proxy of the test's)."""
        db = Database(self.database_url)
        try:
            yield db
        finally:
            await db.dispose()

    async def settled(self, seconds: float = 45) -> None:
        """Until every outbox row is delivered, none given up on: nothing is on its way to
        Slack or the platform any more, so what they hold now is final."""
        states = select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
        async with self.database() as db:

            async def counted() -> Counter[DeliveryState]:
                async with db.read() as s:
                    return Counter({state: n for state, n in await s.execute(states)})

            async def drained() -> bool:
                return DeliveryState.pending not in await counted()

            await eventually(drained, seconds=seconds, what="the outbox to drain")
            given_up = (await counted())[DeliveryState.failed]
        assert given_up == 0, f"{given_up} deliveries given up on"


@contextmanager
def running_stack(
    workdir: Path,
    database_url: str,
    served_database_url: str | None = None,
    *,
    more_config: str = "",
    more_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """The stand-in Slack (every agent in every routed channel), the platform receiver and
    the platform registered; replicas are started by the test and stopped here. They reach
    the database at ``served_database_url`` (a proxy of the test's, say), if given;
    ``more_config`` is added to the configuration file, ``more_env`` to the environment."""
    users = people()
    channels = {c: {BOT_USER, *users} for c in CHANNELS}
    slack = StandIn(channels=channels, users=users).start()
    platform = Receiver().start()
    stack: Stack | None = None
    try:
        config = workdir / "baton.toml"
        config.write_text(_config(more_config))
        env = {
            **clean_env(),
            "BATON_DATABASE_URL": database_url,
            "BATON_SECRET_KEY": TEST_SECRET_KEY,
            "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
            "BATON_CONFIG": str(config),
            "BATON_LOG_LEVEL": "WARNING",
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "BATON_SLACK_API_URL": slack.url,
            "BATON_ESCALATION_CHANNEL": CHANNELS[0],
            **(more_env or {}),
        }
        credentials = register_platform(platform.url, env, cwd=workdir)
        platform.secret = credentials["webhook_secret"]
        if served_database_url:
            env["BATON_DATABASE_URL"] = served_database_url
        stack = Stack(workdir, database_url, env, slack, platform, credentials["api_key"])
        yield stack
    finally:
        for replica in stack.replicas if stack else []:
            replica.stop()
        platform.stop()
        slack.stop()


async def send_to_slack(client: httpx.AsyncClient, request: SlackRequest) -> bool:
    """Deliver a request as Slack does; True if Baton acknowledged it (HTTP 200 in time)."""
    try:
        response = await client.post(
            "/slack/events", content=request.body.encode(), headers=request.headers
        )
    except httpx.TransportError:  # no answer: refused, reset, or too slow
        return False
    return response.status_code == 200


async def redeliver(client: httpx.AsyncClient, signer: SlackSigner, request: SlackRequest) -> None:
    """Slack's retries of an event it saw no acknowledgement for: the same body (so the
    same event_id), ``X-Slack-Retry-Num`` 1, 2, 3."""
    for retry_num in range(1, SLACK_RETRIES + 1):
        if await send_to_slack(client, signer.retried(request, retry_num)):
            return
        await asyncio.sleep(retry_num)  # Slack waits minutes; a test cannot
    raise AssertionError("Baton never acknowledged an event Slack sent four times")


async def until_answered(
    send: Callable[[], Awaitable[httpx.Response]], what: str, seconds: float = 45
) -> httpx.Response:
    """What a platform does with a request that got no answer, a 409 (its Idempotency-Key
    still in flight), a 429 or a 5xx: wait as told, then send it again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        wait = 0.2
        try:
            response = await send()
        except httpx.TransportError:
            response = None
        if response is not None:
            if response.status_code not in (409, 429) and response.status_code < 500:
                return response
            wait = float(response.headers.get("Retry-After", wait))
        if loop.time() + wait > deadline:
            raise AssertionError(f"no answer to {what} within {seconds:.0f}s")
        await asyncio.sleep(wait * (0.5 + random.random()))


async def create_as_a_platform_does(
    client: httpx.AsyncClient, body: dict[str, Any], key: str
) -> str:
    """POST the escalation until it is answered, with the same Idempotency-Key and body;
    the escalation's id."""
    answer = await until_answered(
        lambda: client.post("/v1/escalations", json=body, headers={"Idempotency-Key": key}),
        f"the create with Idempotency-Key {key}",
    )
    return created_id(answer)


def created_id(response: httpx.Response) -> str:
    """The id of the escalation a create (or its replay) answered with."""
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _shown(event: Received) -> tuple[str, str, str | None]:
    """What the platform acts on once: the event's type, escalation and words."""
    data = event.body["data"]
    return event.body["type"], data["escalation_id"], (data.get("message") or {}).get("content")
