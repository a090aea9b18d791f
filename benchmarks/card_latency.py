"""Card latency: from the 201 of a create to the card's arrival at the Slack stand-in, idle
and under a steady load of creates.

``baton serve`` runs as a process; the stand-in Slack and the client run in this process,
so both ends are timed with the same ``perf_counter``. Idle, creates go one at a time,
each after the previous card arrived; under load, an open-loop client sends creates at a
fixed rate whatever the answers do.

    python benchmarks/card_latency.py [--idle 200] [--rates 10 200] [--seconds 20]
        [--channels 800] [--databases sqlite postgres]
"""

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stack import (  # noqa: E402
    Stack,
    escalation,
    percentile,
    running,
    settle,
    until,
)

WARM_UP = 5
# Seconds between an idle card's arrival and the next create: each card's worker also waits
# a second to post the transcript into the card's thread, and these waits must not pile up.
SPACING = 0.2


@dataclass
class Row:
    database: str
    load: str
    latencies_ms: list[float]
    created: int
    rate: float | None  # creates sent per second, under load
    delivered: float | None  # cards posted per second, under load

    def line(self) -> str:
        rate = "-" if self.rate is None else f"{self.rate:.0f}"
        delivered = "-" if self.delivered is None else f"{self.delivered:.1f}"
        cards = f"{len(self.latencies_ms)}/{self.created}"
        return (
            f"{self.database:<10}{self.load:<22}{percentile(self.latencies_ms, 50):>8.1f}"
            f"{percentile(self.latencies_ms, 99):>9.1f}{cards:>15}{rate:>9}{delivered:>9}"
        )


def routes(channels: int) -> dict[str, str]:
    """One Slack channel per customer channel: Baton keeps each Slack channel to one post
    a second, so a single channel would measure that pace, not the pipeline."""
    return {f"cc{n:04d}": f"C0BENCH{n:04d}" for n in range(channels)}


def body(n: int, channels: int) -> dict[str, Any]:
    return escalation(n, customer=f"cust_{n}", channel=f"cc{n % channels:04d}")


async def idle(stack: Stack, samples: int, channels: int, first: int = 0) -> list[float]:
    """One create at a time, each to a channel of its own while ``channels`` last."""
    api = stack.api(connections=4)
    waits = []
    for n in range(first, first + samples):
        response = await api.post("/v1/escalations", json=body(n, channels))
        answered = time.perf_counter()
        if response.status_code != 201:
            raise SystemExit(f"create answered {response.status_code}: {response.text}")
        esc_id = response.json()["id"]
        card = await until(partial(stack.slack.card, esc_id), f"the card of {esc_id}", 30)
        waits.append((card.done - answered) * 1000)
        await asyncio.sleep(SPACING)
    return waits


async def loaded(
    stack: Stack, rate: float, seconds: float, channels: int, *, first: int
) -> tuple[list[float], int, float, float]:
    """Creates at ``rate`` a second for ``seconds``: the card latencies, the creates
    answered 201, the rate actually sent, and cards a second from the first create to
    the last card. aiohttp, not httpx: httpx could not send 200 a second from here."""
    answered: dict[str, float] = {}
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(stack.base, headers=headers, connector=connector) as api:

        async def create(n: int) -> None:
            try:
                async with api.post("/v1/escalations", json=body(n, channels)) as response:
                    got = await response.json()
            except aiohttp.ClientError as exc:
                failures.append(type(exc).__name__)
                return
            if response.status == 201:
                answered[got["id"]] = time.perf_counter()
            else:
                failures.append(str(response.status))

        before = stack.slack.card_count()
        total = round(rate * seconds)
        tasks = []
        started = time.perf_counter()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(create(first + i)))
        sent_rate = total / (time.perf_counter() - started)
        await asyncio.gather(*tasks)
    if failures:
        print(f"  {len(failures)} creates failed: {sorted(set(failures))}", file=sys.stderr)
    arrived = lambda: stack.slack.card_count() >= before + len(answered)  # noqa: E731
    # Generous: even 5 cards a second gets there.
    await until(arrived, "every card under load", 60 + len(answered) / 5, every=0.1)
    cards = {e: stack.slack.card(e) for e in answered}
    waits = [(card.done - answered[e]) * 1000 for e, card in cards.items() if card]
    last = max(card.done for card in cards.values() if card)
    return waits, len(answered), sent_rate, len(cards) / (last - started)


async def bench(kind: str, args: argparse.Namespace) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        async with running(kind, Path(tmp), routes=routes(args.channels)) as stack:
            await idle(stack, WARM_UP, args.channels)  # connections, caches
            quiet = await idle(stack, args.idle, args.channels, first=WARM_UP)
            rows.append(Row(kind, "idle (one at a time)", quiet, args.idle, None, None))
            first = WARM_UP + args.idle
            for rate in args.rates:
                waits, created, sent, delivered = await loaded(
                    stack, rate, args.seconds, args.channels, first=first
                )
                load = f"{rate:.0f}/s for {args.seconds:.0f} s"
                rows.append(Row(kind, load, waits, created, sent, delivered))
                first += round(rate * args.seconds)
                await settle(stack)
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=200, help="idle samples")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[10, 200], help="creates a second under load"
    )
    parser.add_argument("--seconds", type=float, default=20, help="duration of the load")
    parser.add_argument("--channels", type=int, default=800, help="Slack channels routed to")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows = []
    for kind in args.databases:
        rows += await bench(kind, args)
    print(
        f"{'database':<10}{'load':<22}{'p50 ms':>8}{'p99 ms':>9}{'cards/created':>15}"
        f"{'sent/s':>9}{'cards/s':>9}"
    )
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    asyncio.run(main())
