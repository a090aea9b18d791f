"""Soak: a steady mix of real traffic for ten minutes, watching the server's memory, open
files and latency for drift.

``baton serve`` runs as a process with the stand-in Slack and a platform that verifies
every event. An open-loop client sends ``--rate`` requests a second: creates, detail and
list reads, customer messages, Take clicks and agents' thread replies sent as Slack sends
them (signed), and closes, each on a conversation at the right stage. Cards are routed
over 16 channels so that Baton's pace of one post a second per channel keeps up.

    python benchmarks/soak.py [--seconds 600] [--rate 20] [--database sqlite|postgres]
"""

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stack import (  # noqa: E402
    AGENTS,
    Stack,
    escalation,
    percentile,
    running,
    send,
    settle,
)
from blocks.ids import Action  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.models import DeliveryState, OutboxRow  # noqa: E402

CHANNELS = {f"cc{n:02d}": f"C0SOAK{n:02d}" for n in range(16)}
CUSTOMERS = 300  # some customers come back: their cards list earlier escalations
# Requests of each kind per 18: an escalation's life is a create, a Take, a reply or two
# each way, a close, and reads of it and of the list along the way.
MIX = {"create": 2, "take": 2, "customer": 3, "reply": 3, "close": 2, "detail": 4, "list": 2}
SAMPLE_EVERY = 10.0
# What the verdict calls flat: memory grown by less than this fraction, open files by fewer
# than this many on average (connections come and go), a p99 under this many times the early.
MEMORY_GROWTH, FD_GROWTH, P99_DRIFT = 0.05, 5, 1.5
# By then SQLite's page caches (up to 2 MB per pooled connection) have filled.
LEVELS_OFF_BY = 600.0


@dataclass
class Conversation:
    id: str
    stage: str = "new"  # new, open (its card is up), taking, taken, closed
    owner: str = ""
    replies: int = 0
    said: int = 0


@dataclass
class Sample:
    at: float  # seconds since the start when the request was sent
    kind: str
    ms: float
    ok: bool


@dataclass
class Usage:
    at: float
    rss_mb: float
    fds: int
    pending: int  # outbox rows not yet delivered


@dataclass
class Traffic:
    """Picks each request from the mix, for a conversation at the right stage."""

    stack: Stack
    api: httpx.AsyncClient
    slack: httpx.AsyncClient
    started: float
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    conversations: dict[str, Conversation] = field(default_factory=dict)
    stages: dict[str, set[str]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    created: int = 0

    def move(self, conv: Conversation, stage: str) -> None:
        self.stages.setdefault(conv.stage, set()).discard(conv.id)
        conv.stage = stage
        self.stages.setdefault(stage, set()).add(conv.id)

    def refresh(self) -> None:
        """Cards that came up, Takes that the platform was told of."""
        for esc_id in list(self.stages.get("new", ())):
            if self.stack.slack.card(esc_id):
                self.move(self.conversations[esc_id], "open")
        for esc_id in list(self.stages.get("taking", ())):
            if self.stack.platform.got("escalation.taken", esc_id):
                self.move(self.conversations[esc_id], "taken")

    def pick(self, stage: str, ready: Callable[[Conversation], bool] = bool) -> Conversation:
        ids = sorted(self.stages.get(stage, ()))
        self.rng.shuffle(ids)
        for esc_id in ids[:20]:
            if ready(self.conversations[esc_id]):
                return self.conversations[esc_id]
        raise LookupError(stage)

    def next_request(self) -> tuple[str, Callable[[], Awaitable[httpx.Response]]]:
        self.refresh()
        kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        try:
            return kind, getattr(self, f"_{kind}")()
        except LookupError:  # nothing at that stage now
            return ("detail", self._detail()) if self.conversations else ("create", self._create())

    async def timed(self, kind: str, request: Callable[[], Awaitable[httpx.Response]]) -> None:
        sent = time.perf_counter()
        try:
            response = await request()
            ok = response.status_code < 400
        except httpx.HTTPError:
            ok = False
        done = time.perf_counter()
        self.samples.append(Sample(sent - self.started, kind, (done - sent) * 1000, ok))

    # ------------------------------------------------------------------------- requests

    def _create(self) -> Callable[[], Awaitable[httpx.Response]]:
        n = self.created = self.created + 1
        customer = f"cust_{self.rng.randrange(CUSTOMERS)}"
        body = escalation(n, customer=customer, channel=f"cc{n % len(CHANNELS):02d}")

        async def create() -> httpx.Response:
            response = await self.api.post("/v1/escalations", json=body)
            if response.status_code == 201:
                conv = Conversation(response.json()["id"])
                self.conversations[conv.id] = conv
                self.move(conv, "new")
            return response

        return create

    def _take(self) -> Callable[[], Awaitable[httpx.Response]]:
        conv = self.pick("open")
        card = self.stack.slack.card(conv.id)
        assert card is not None
        conv.owner = self.rng.choice(AGENTS)
        self.move(conv, "taking")
        click = self.stack.signer.block_action_on(
            self.stack.slack.stored(card), user=conv.owner, action_id=Action.TAKE
        )
        return lambda: send(self.slack, click)

    def _customer(self) -> Callable[[], Awaitable[httpx.Response]]:
        conv = self.pick("taken")
        conv.said += 1
        said = {"role": "customer", "content": f"Any news? ({conv.said})"}
        return lambda: self.api.post(f"/v1/escalations/{conv.id}/messages", json=said)

    def _reply(self) -> Callable[[], Awaitable[httpx.Response]]:
        conv = self.pick("taken")
        card = self.stack.slack.card(conv.id)
        assert card is not None and card.ts is not None
        conv.replies += 1
        typed = self.stack.slack.post_as_user(
            card.channel, conv.owner, f"Looking into it ({conv.replies})", card.ts
        )
        return lambda: send(self.slack, self.stack.signer.message_event_for(typed))

    def _close(self) -> Callable[[], Awaitable[httpx.Response]]:
        conv = self.pick("taken", lambda c: c.replies > 0 and c.said > 0)
        self.move(conv, "closed")
        body = {"agent": conv.owner, "resolution": "resolved"}
        return lambda: self.api.post(f"/v1/escalations/{conv.id}/close", json=body)

    def _detail(self) -> Callable[[], Awaitable[httpx.Response]]:
        esc_id = self.rng.choice(list(self.conversations)[-200:])
        return lambda: self.api.get(f"/v1/escalations/{esc_id}")

    def _list(self) -> Callable[[], Awaitable[httpx.Response]]:
        params = self.rng.choice([{"status": "active"}, {}])
        return lambda: self.api.get("/v1/escalations", params=params)


async def pending_rows(db: Database) -> int:
    async with db.read() as s:
        count = select(func.count()).select_from(OutboxRow)
        return int((await s.scalar(count.where(OutboxRow.state == DeliveryState.pending))) or 0)


async def watch(stack: Stack, started: float, stop: asyncio.Event) -> list[Usage]:
    """The server's memory and open files, and the outbox backlog, every ten seconds."""
    server = psutil.Process(stack.server.pid)
    db = Database(stack.db_url)
    usage = []
    try:
        while True:
            info = server.memory_info()
            at = time.perf_counter() - started
            usage.append(Usage(at, info.rss / 2**20, server.num_fds(), await pending_rows(db)))
            try:
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
                return usage
            except TimeoutError:
                pass
    finally:
        await db.dispose()


async def drive(traffic: Traffic, rate: float, seconds: float) -> None:
    """Open loop: a request every 1/rate seconds, whether or not earlier ones answered."""
    tasks = []
    for i in range(round(rate * seconds)):
        delay = traffic.started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind, request = traffic.next_request()
        tasks.append(asyncio.create_task(traffic.timed(kind, request)))
    await asyncio.gather(*tasks)


def windows(seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """After a warm-up, an early window and the last one: on ten minutes, minutes 2-4 and
    8-10; shorter runs scale them down."""
    warm_up, width = min(60.0, seconds / 6), min(180.0, seconds / 3)
    return (warm_up, warm_up + width), (seconds - width, seconds)


def per_minute(samples: list[Sample], usage: list[Usage]) -> list[str]:
    lines = [
        f"{'minute':>6}{'requests':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'rss MB':>9}{'fds':>6}{'outbox':>8}"
    ]
    for minute in range(int(max(s.at for s in samples) // 60) + 1):
        these = [s for s in samples if minute * 60 <= s.at < (minute + 1) * 60]
        ms = [s.ms for s in these]
        seen = [u for u in usage if u.at < (minute + 1) * 60] or usage[:1]
        last = seen[-1]
        lines.append(
            f"{minute + 1:>6}{len(these):>10}{sum(not s.ok for s in these):>8}"
            f"{percentile(ms, 50):>9.1f}{percentile(ms, 99):>9.1f}"
            f"{last.rss_mb:>9.1f}{last.fds:>6}{last.pending:>8}"
        )
    return lines


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def verdict(samples: list[Sample], usage: list[Usage], seconds: float) -> list[str]:
    """Memory, open files and p99 of an early window against the last one."""
    (a0, a1), (b0, b1) = windows(seconds)
    early = [u for u in usage if a0 <= u.at <= a1]
    late = [u for u in usage if b0 <= u.at <= b1 + SAMPLE_EVERY]
    rss_a, rss_b = mean([u.rss_mb for u in early]), mean([u.rss_mb for u in late])
    fds_a, fds_b = mean([u.fds for u in early]), mean([u.fds for u in late])
    p99_a = percentile([s.ms for s in samples if a0 <= s.at < a1], 99)
    p99_b = percentile([s.ms for s in samples if b0 <= s.at < b1], 99)
    memory = "flat" if rss_b / rss_a - 1 < MEMORY_GROWTH else "GROWING"
    files = "flat" if fds_b - fds_a < FD_GROWTH else "GROWING"
    p99 = "steady" if p99_b / p99_a < P99_DRIFT else "DRIFTING"
    lines = [
        f"verdict ({a0:.0f}-{a1:.0f} s against {b0:.0f}-{b1:.0f} s):",
        f"  memory {memory}: {rss_a:.1f} -> {rss_b:.1f} MB ({rss_b - rss_a:+.1f} MB, "
        f"{rss_b / rss_a - 1:+.1%})",
        f"  open files {files}: {fds_a:.1f} -> {fds_b:.1f} ({fds_b - fds_a:+.1f})",
        f"  p99 {p99}: {p99_a:.1f} -> {p99_b:.1f} ms ({p99_b / p99_a - 1:+.0%})",
    ]
    if seconds >= 2 * LEVELS_OFF_BY:
        # Caches fill for the first minutes; from then on, memory that still grows leaks.
        middle = [u for u in usage if LEVELS_OFF_BY <= u.at <= LEVELS_OFF_BY + (b1 - b0)]
        rss_m = mean([u.rss_mb for u in middle])
        settled = "flat" if rss_b / rss_m - 1 < MEMORY_GROWTH / 2 else "GROWING"
        lines.append(
            f"  memory after {LEVELS_OFF_BY / 60:.0f} minutes {settled}: {rss_m:.1f} -> "
            f"{rss_b:.1f} MB ({rss_b - rss_m:+.1f} MB, {rss_b / rss_m - 1:+.1%})"
        )
    return lines


def by_kind(samples: list[Sample]) -> list[str]:
    lines = [f"{'request':<10}{'count':>7}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}"]
    for kind in MIX:
        ms = [s.ms for s in samples if s.kind == kind]
        failed = sum(not s.ok for s in samples if s.kind == kind)
        lines.append(
            f"{kind:<10}{len(ms):>7}{failed:>8}{percentile(ms, 50):>9.1f}{percentile(ms, 99):>9.1f}"
        )
    return lines


async def soak(kind: str, seconds: float, rate: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        async with running(kind, Path(tmp), routes=CHANNELS) as stack:
            started = time.perf_counter()
            traffic = Traffic(stack, stack.api(), stack.slack_client(), started)
            stop = asyncio.Event()
            watching = asyncio.create_task(watch(stack, started, stop))
            await drive(traffic, rate, seconds)
            stop.set()
            usage = await watching
            await settle(stack)
            stages = {s: len(ids) for s, ids in sorted(traffic.stages.items())}
            platform = stack.platform
            lines = [
                f"{kind}: {rate:.0f} requests/s for {seconds:.0f} s; escalations by stage "
                f"at the end {stages}; platform events received {platform.received}, "
                f"refused signatures {platform.rejected}",
                *per_minute(traffic.samples, usage),
                *by_kind(traffic.samples),
                *verdict(traffic.samples, usage, seconds),
            ]
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=20, help="requests a second")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    print("\n".join(await soak(args.database, args.seconds, args.rate)))


if __name__ == "__main__":
    asyncio.run(main())
