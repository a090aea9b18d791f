"""Slack's pace: a burst of escalations routed to one channel, with the stand-in holding
that channel to one chat.postMessage a second, as Slack does; and meanwhile, how fast
clicks on the cards already posted are answered.

Every escalation posts its card and then its transcript into the card's thread; both are
chat.postMessage calls in the channel, and the stand-in paces every one of them. The
theoretical minimum is one second per post after the first.

    python benchmarks/slack_pace.py [--count 300] [--click-every 2] [--databases sqlite]
        [--latency 0]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stack import (  # noqa: E402
    AGENTS,
    CHANNEL,
    Post,
    Stack,
    escalation,
    percentile,
    running,
    send,
    settle,
    until,
)
from blocks.ids import Action  # noqa: E402

INTERVAL = 1.0  # Slack's (and the stand-in's) chat.postMessage pace per channel


@dataclass
class Clicks:
    """Take clicks sent as Slack sends them, and how long each answer took."""

    answers_ms: list[float]
    failures: list[str]


async def create_all(stack: Stack, count: int) -> tuple[float, list[str]]:
    """``count`` creates, eight at a time: when the first was sent, and the ids."""
    api = stack.api(connections=8)
    gate = asyncio.Semaphore(8)

    async def create(n: int) -> str:
        async with gate:
            response = await api.post("/v1/escalations", json=escalation(n, customer=f"c{n}"))
        if response.status_code != 201:
            raise SystemExit(f"create answered {response.status_code}: {response.text}")
        return str(response.json()["id"])

    started = time.perf_counter()
    ids = await asyncio.gather(*(create(n) for n in range(count)))
    return started, list(ids)


async def click_takes(stack: Stack, ids: list[str], every: float, stop: asyncio.Event) -> Clicks:
    """Every ``every`` seconds, Take on the newest card nobody clicked yet."""
    client = stack.slack_client()
    clicks = Clicks([], [])
    clicked: set[str] = set()
    while not stop.is_set():
        await asyncio.sleep(every)
        posted = [c for e in ids if e not in clicked and (c := stack.slack.card(e))]
        if not posted:
            continue
        card = max(posted, key=lambda c: c.done)
        assert card.escalation_id is not None
        clicked.add(card.escalation_id)
        agent = AGENTS[len(clicked) % len(AGENTS)]
        request = stack.signer.block_action_on(
            stack.slack.stored(card), user=agent, action_id=Action.TAKE
        )
        sent = time.perf_counter()
        try:
            response = await send(client, request)
        except httpx.TimeoutException:
            clicks.failures.append("no answer within 3 s")
            continue
        clicks.answers_ms.append((time.perf_counter() - sent) * 1000)
        if response.status_code != 200:
            clicks.failures.append(f"HTTP {response.status_code}")
    return clicks


def all_posted(stack: Stack, ids: list[str]) -> bool:
    """Every card and the first transcript post in its thread."""
    keys = {(p.escalation_id, p.key) for p in stack.slack.all_posts() if p.ts}
    return all((e, "card") in keys and (e, "intro:0") in keys for e in ids)


def early_gaps(posts: list[Post]) -> list[float]:
    """For each 429, the seconds since the channel's previous accepted post."""
    gaps, last = [], None
    for post in sorted(posts, key=lambda p: p.at):
        if post.status == 429 and last is not None:
            gaps.append(post.at - last)
        elif post.ts:
            last = post.at
    return gaps


def report(
    kind: str, started: float, ids: list[str], posts: list[Post], clicks: Clicks, latency: float
) -> None:
    accepted = [p for p in posts if p.ts]
    cards = [p for p in accepted if p.key == "card"]
    refused = [p for p in posts if p.status == 429]
    doubled = [k for k, n in Counter((p.escalation_id, p.key) for p in accepted).items() if n > 1]
    lost = set(ids) - {p.escalation_id for p in cards}
    minimum = (len(accepted) - 1) * INTERVAL
    took = max(p.done for p in accepted) - started
    last_card = max(p.done for p in cards) - started
    away = f", {latency * 1000:.0f} ms round trip to Slack" if latency else ""
    print(f"{kind}: {len(ids)} escalations to one channel, {INTERVAL:.0f} post/s{away}")
    print(
        f"  chat.postMessage accepted in the channel: {len(accepted)} "
        f"({len(cards)} cards, {len(accepted) - len(cards)} thread posts)"
    )
    print(f"  theoretical minimum: {minimum:.0f} s (one post a second after the first)")
    print(
        f"  all posted after:    {took:.1f} s ({took / minimum - 1:+.1%} over the minimum); "
        f"last card after {last_card:.1f} s"
    )
    print(f"  429s answered: {len(refused)}", end="")
    gaps = early_gaps(posts)
    if gaps:
        print(
            f" (each came {min(gaps):.3f}-{max(gaps):.3f} s after the previous accepted post, "
            f"median {statistics.median(gaps):.3f} s)",
            end="",
        )
    print()
    print(f"  cards lost: {len(lost)}; doubled posts (same escalation and key): {len(doubled)}")
    acks = clicks.answers_ms
    print(
        f"  Take clicks answered: {len(acks)}, p50 {percentile(acks, 50):.1f} ms, "
        f"p99 {percentile(acks, 99):.1f} ms, max {max(acks, default=float('nan')):.1f} ms; "
        f"failed: {len(clicks.failures)} {sorted(set(clicks.failures))}"
    )


async def bench(kind: str, count: int, click_every: float, latency: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pace = {"post_interval": INTERVAL, "slack_latency": latency}
        async with running(kind, Path(tmp), **pace) as stack:
            started, ids = await create_all(stack, count)
            stop = asyncio.Event()
            clicking = asyncio.create_task(click_takes(stack, ids, click_every, stop))
            # Generous: twice the minimum for a card and a transcript post each.
            await until(lambda: all_posted(stack, ids), "every post", 60 + 4 * count, every=0.5)
            await settle(stack, quiet=3.0)
            stop.set()
            clicks = await clicking
            posts = [p for p in stack.slack.all_posts() if p.channel == CHANNEL]
    report(kind, started, ids, posts, clicks, latency)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="escalations")
    parser.add_argument("--click-every", type=float, default=2.0, help="seconds between clicks")
    parser.add_argument("--databases", nargs="+", default=["sqlite"])
    parser.add_argument(
        "--latency", type=float, default=0.0, help="the stand-in's round trip, in ms"
    )
    args = parser.parse_args()
    for kind in args.databases:
        await bench(kind, args.count, args.click_every, args.latency / 1000)


if __name__ == "__main__":
    asyncio.run(main())
