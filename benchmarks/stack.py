"""A whole Baton for the benchmarks that drive it end to end: ``baton serve`` as a process,
Slack as the stand-in (``api.demo.slack_standin``) in the benchmark's process, and a
platform on loopback that verifies every event it receives. The stand-in notes this
process's ``perf_counter`` on every ``chat.postMessage``, so its times compare with the
client's."""

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.demo.loopback import LoopbackServer  # noqa: E402
from api.demo.slack_requests import SlackRequest, SlackSigner  # noqa: E402
from api.demo.slack_standin import BOT_USER, StandIn, StoredMessage  # noqa: E402
from benchmarks.databases import PG_ADMIN, database, drop  # noqa: E402
from storage.sealing import new_secret_key  # noqa: E402

BATON = Path(sys.executable).parent / "baton"
SIGNING_SECRET = "bench-signing-secret-0123456789ab"
CHANNEL = "C0BENCH"
AGENTS = [f"U0AGENT{n:02d}" for n in range(10)]
SLACK_TIMEOUT = 3.0  # Slack gives up on an answer after three seconds

# What a bot sends: a customer, a reason, and a two-message transcript.
BODY: dict[str, Any] = {
    "customer": {"id": "cust_19", "name": "Nguyen Van A", "locale": "vi"},
    "channel": "whatsapp",
    "reason": "gate_failure",
    "reason_detail": "3x gate failure",
    "priority": "high",
    "confidence": 35,
    "transcript": [
        {
            "role": "customer",
            "content": "I want to complain about my order",
            "timestamp": "2026-03-12T10:00:00Z",
        },
        {
            "role": "assistant",
            "content": "Let me connect you with our team!",
            "timestamp": "2026-03-12T10:05:00Z",
        },
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------ Slack


@dataclass(frozen=True)
class Post:
    """One chat.postMessage as the stand-in answered it."""

    at: float  # perf_counter when the request reached the stand-in
    done: float  # perf_counter once it was answered (stored, or refused)
    channel: str
    status: int
    ts: str | None
    thread_ts: str | None
    escalation_id: str | None
    key: str | None


class TimedSlack(StandIn):
    """The stand-in, noting every chat.postMessage with this process's clock; with
    ``latency`` (seconds), as far away as that round trip: each call reaches it half of
    that after it was sent, and its answer takes the other half."""

    def __init__(self, *, latency: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency
        self.posts: list[Post] = []
        self._cards: dict[str, Post] = {}
        self._posts_lock = threading.Lock()

    def handle(
        self, method: str, token: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        time.sleep(self.latency / 2)  # each call has its own thread
        at = time.perf_counter()
        answer = super().handle(method, token, params)
        if method == "chat.postMessage":
            self._note(at, params, answer[0], answer[1])
        time.sleep(self.latency / 2)
        return answer

    def _note(self, at: float, params: dict[str, Any], status: int, body: dict[str, Any]) -> None:
        metadata = params.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        payload = metadata.get("event_payload") or {}
        post = Post(
            at=at,
            done=time.perf_counter(),
            channel=str(params.get("channel")),
            status=status,
            ts=body.get("ts") if body.get("ok") else None,
            thread_ts=params.get("thread_ts") or None,
            escalation_id=payload.get("escalation_id"),
            key=payload.get("key"),
        )
        with self._posts_lock:
            self.posts.append(post)
            if post.ts and post.key == "card" and post.escalation_id:
                self._cards.setdefault(post.escalation_id, post)

    def card(self, escalation_id: str) -> Post | None:
        """The first card posted for the escalation, if any."""
        with self._posts_lock:
            return self._cards.get(escalation_id)

    def card_count(self) -> int:
        with self._posts_lock:
            return len(self._cards)

    def all_posts(self) -> list[Post]:
        with self._posts_lock:
            return list(self.posts)

    def last_post(self) -> Post | None:
        with self._posts_lock:
            return self.posts[-1] if self.posts else None

    def stored(self, post: Post) -> StoredMessage:
        assert post.ts is not None
        return self.messages[(post.channel, post.ts)]


def slack_standin(channels: Iterable[str] = (), **kwargs: Any) -> TimedSlack:
    """The stand-in Slack, started, with ``CHANNEL`` and ``channels``, the bot and ``AGENTS``
    in every one; ``kwargs`` go to ``TimedSlack``."""
    members = {BOT_USER, *AGENTS}
    channels = {c: set(members) for c in {CHANNEL, *channels}}
    users = {a: person(a) for a in AGENTS}
    slack = TimedSlack(channels=channels, users=users, **kwargs)
    slack.start()
    return slack


def person(user_id: str) -> dict[str, Any]:
    name = f"Agent {user_id[-2:]}"
    return {
        "id": user_id,
        "name": name.lower().replace(" ", ""),
        "real_name": name,
        "profile": {"display_name": name, "real_name": name, "email": f"{user_id}@x.test"},
    }


# --------------------------------------------------------------------------- platform


class Platform:
    """A platform on loopback: verifies each event's signature and counts what it got."""

    def __init__(self) -> None:
        self.secret = ""
        self.events: dict[str, set[str]] = {}  # event type -> escalation ids
        self.received = 0
        self.rejected = 0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/events", self._handle, methods=["POST"])])
        self._server = LoopbackServer(app, "platform", lifespan="off")

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/events"

    def got(self, kind: str, escalation_id: str) -> bool:
        with self._lock:
            return escalation_id in self.events.get(kind, ())

    def count(self, kind: str) -> int:
        """How many escalations it accepted a ``kind`` event for."""
        with self._lock:
            return len(self.events.get(kind, ()))

    async def _handle(self, request: Request) -> Response:
        try:
            raw = (await request.body()).decode()
        except ClientDisconnect:  # the relay gave up waiting: it sends the event again
            return Response(status_code=499)
        try:
            Webhook(self.secret).verify(raw, dict(request.headers))
        except WebhookVerificationError:
            with self._lock:
                self.rejected += 1
            return Response(status_code=401)
        body = json.loads(raw)
        with self._lock:
            self.received += 1
            esc = (body.get("data") or {}).get("escalation_id") or ""
            self.events.setdefault(body.get("type", ""), set()).add(esc)
        return Response(status_code=204)

    def start(self) -> "Platform":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


# ------------------------------------------------------------------------------ Baton


@dataclass
class Stack:
    slack: TimedSlack
    platform: Platform
    signer: SlackSigner
    base: str
    api_key: str
    server: subprocess.Popen[str]
    workdir: Path
    db_url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def api(self, connections: int = 64, timeout: float = 30.0) -> httpx.AsyncClient:
        """A client as the platform, with its API key (closed with the stack)."""
        client = httpx.AsyncClient(
            base_url=self.base,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            trust_env=False,
        )
        self.clients.append(client)
        return client

    def slack_client(self) -> httpx.AsyncClient:
        """A client as Slack, with Slack's three seconds of patience."""
        client = httpx.AsyncClient(base_url=self.base, timeout=SLACK_TIMEOUT, trust_env=False)
        self.clients.append(client)
        return client


async def send(client: httpx.AsyncClient, request: SlackRequest) -> httpx.Response:
    """A signed request to Baton's /slack/events, as Slack sends it."""
    body = request.body.encode()
    return await client.post("/slack/events", content=body, headers=request.headers)


def write_config(workdir: Path, routes: dict[str, str], extra: str = "") -> Path:
    """No API rate limit, one routing rule per customer channel in ``routes``, and
    ``extra`` (more TOML)."""
    lines = ['[api]\nrate_limit = "0"\n', extra]
    for customer_channel, slack_channel in routes.items():
        lines.append(
            f'[[routing]]\ncustomer_channel = ["{customer_channel}"]\n'
            f'slack_channel = "{slack_channel}"\n'
        )
    config = workdir / "bench.toml"
    config.write_text("\n".join(lines))
    return config


def baton_env(db_url: str, config: Path, slack_url: str, slack_token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SLACK_"))}
    return {
        **env,
        "BATON_DATABASE_URL": db_url,
        "BATON_CONFIG": str(config),
        "BATON_SECRET_KEY": new_secret_key(),
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "BATON_LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": slack_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "BATON_SLACK_API_URL": slack_url,
        "BATON_ESCALATION_CHANNEL": CHANNEL,
    }


def register_platform(env: dict[str, str], callback_url: str) -> dict[str, str]:
    added = subprocess.run(
        [
            BATON,
            "platforms",
            "add",
            f"bench-{uuid.uuid4().hex[:6]}",
            *("--callback-url", callback_url),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    credentials: dict[str, str] = json.loads(added.stdout)
    return credentials


def serve(
    workdir: Path, env: dict[str, str], *, workers: int = 1, cpus: str | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``baton serve`` on a free port (``--workers``; with ``cpus``, pinned to those cores by
    taskset), its output in ``workdir/serve.log`` (a file: a full pipe would stall a long
    run)."""
    port = free_port()
    command = [str(BATON), "serve", "--port", str(port), "--workers", str(workers)]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    with (workdir / "serve.log").open("a") as log:
        server = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"baton serve exited:\n{(workdir / 'serve.log').read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1, trust_env=False).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.kill()
    raise SystemExit("baton serve did not become ready")


async def warn_without_autovacuum() -> None:
    """A server with autovacuum off never analyzes the new database's tables, so every
    query is planned without statistics (the outbox claim's plan no longer depends on them;
    see "Claim" in benchmarks/README.md)."""
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        setting = await conn.fetchval("SHOW autovacuum")
    finally:
        await conn.close()
    if setting != "on":
        print(
            "note: autovacuum is off on this PostgreSQL server: the benchmark's tables are "
            "never analyzed, so figures with a large outbox backlog are not representative",
            file=sys.stderr,
        )


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@asynccontextmanager
async def running(
    kind: str,
    workdir: Path,
    *,
    routes: dict[str, str] | None = None,
    post_interval: float = 0.0,
    slack_latency: float = 0.0,
    extra_config: str = "",
) -> AsyncIterator[Stack]:
    """Baton on a fresh ``kind`` database, with the stand-in Slack (``post_interval`` > 0
    enforces Slack's pace per channel; ``slack_latency`` is its round trip) and a platform.
    Cards go to ``CHANNEL`` unless a customer channel in ``routes`` names another Slack
    channel."""
    routes = routes or {}
    slack = slack_standin(routes.values(), post_interval=post_interval, latency=slack_latency)
    platform = Platform().start()
    db_url, db_name = await database(kind, workdir)
    if db_name is not None:
        await warn_without_autovacuum()
    server = None
    stack = None
    try:
        config = write_config(workdir, routes, extra_config)
        env = baton_env(db_url, config, slack.url, slack.token)
        credentials = register_platform(env, platform.url)
        platform.secret = credentials["webhook_secret"]
        server, base = serve(workdir, env)
        signer = SlackSigner(SIGNING_SECRET)
        api_key = credentials["api_key"]
        stack = Stack(slack, platform, signer, base, api_key, server, workdir, db_url)
        yield stack
    finally:
        if stack is not None:
            await asyncio.gather(*(c.aclose() for c in stack.clients))
        if server is not None:
            stop(server)
        platform.stop()
        slack.stop()
        await drop(db_name)


# ---------------------------------------------------------------------------- helpers


def escalation(n: int, *, customer: str, channel: str = "whatsapp") -> dict[str, Any]:
    """A create body: a two-message transcript and a little context, as a bot sends."""
    return {
        **BODY,
        "conversation_id": f"conv_{uuid.uuid4().hex[:8]}_{n}",
        "customer": {"id": customer, "name": f"Customer {customer}", "locale": "vi"},
        "channel": channel,
        "context": {"memory": {"plan": "gold"}, "tags": ["refund"]},
    }


async def settle(stack: Stack, quiet: float = 2.0, seconds: float = 60.0) -> None:
    """Until no chat.postMessage came for ``quiet`` seconds: stopping Baton mid-post would
    only leave broken pipes in the log."""

    def calm() -> bool:
        last = stack.slack.last_post()
        return last is None or time.perf_counter() - last.done > quiet

    await until(calm, "Slack to go quiet", seconds, every=0.2)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0-100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


async def until(check: Callable[[], Any], what: str, seconds: float, every: float = 0.005) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds:.0f}s waiting for {what}")
        await asyncio.sleep(every)
    return result
