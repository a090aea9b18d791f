"""Relay throughput and latency: events delivered per second to a local receiver that
verifies every signature, and the time from a reply's commit to its receipt.

    python benchmarks/relay.py [--databases sqlite postgres]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.relay.platform import Relay  # noqa: E402
from benchmarks.databases import database, drop  # noqa: E402
from blocks.texts import CustomerTexts  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.machine import Actor, Machine, NewEscalation  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import OutboxRow, Reason  # noqa: E402
from storage.platforms import add_platform  # noqa: E402
from storage.sealing import SecretBox, new_secret_key  # noqa: E402
from tests.receiver import Receiver  # noqa: E402


async def setup(url: str, receiver: Receiver) -> tuple[Database, Machine, SecretBox, str]:
    db = Database(url)
    await upgrade(db)
    box = SecretBox(new_secret_key())
    platform = await add_platform(db, box, f"bench-{uuid.uuid4().hex[:6]}", receiver.url)
    receiver.secret = platform.webhook_secret
    return db, Machine(db, CustomerTexts()), box, platform.platform.id


async def queue_events(
    db: Database, machine: Machine, platform_id: str, escalations: int, per_escalation: int
) -> None:
    ids = []
    for _ in range(escalations):
        esc, _ = await machine.create(
            platform_id,
            NewEscalation(
                conversation_id=uuid.uuid4().hex, customer={"id": "c"}, reason=Reason.manual
            ),
        )
        ids.append(esc.id)
    now = db.clock.now()
    async with db.write() as s:
        await s.execute(update(OutboxRow).values(state="done"))
        await s.execute(
            insert(OutboxRow),
            [
                {
                    "topic": "platform",
                    "kind": "escalation.message",
                    "escalation_id": esc,
                    "platform_id": platform_id,
                    "event_id": f"evt_{esc}_{n}",
                    "payload": {
                        "type": "escalation.message",
                        "data": {"escalation_id": esc, "n": n},
                    },
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "give_up_at": now + timedelta(days=1),
                }
                for n in range(per_escalation)
                for esc in ids
            ],
        )


async def throughput(url: str, escalations: int, per_escalation: int) -> float:
    receiver = Receiver().start()
    db, machine, box, platform_id = await setup(url, receiver)
    try:
        await queue_events(db, machine, platform_id, escalations, per_escalation)
        total = escalations * per_escalation
        relay = Relay(db, box, allow_private=True)
        started = time.perf_counter()
        task = asyncio.create_task(relay.run())
        while len(receiver.delivered()) < total:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        task.cancel()
        await relay.aclose()
        return total / elapsed
    finally:
        receiver.stop()
        await db.dispose()


async def latency(url: str, replies: int, rate: float) -> tuple[float, float]:
    receiver = Receiver().start()
    db, machine, box, platform_id = await setup(url, receiver)
    relay = Relay(db, box, allow_private=True)
    task = asyncio.create_task(relay.run())
    try:
        agent = Actor("U0BENCH", "Bench")
        escs = []
        for _ in range(20):
            esc, _ = await machine.create(
                platform_id,
                NewEscalation(
                    conversation_id=uuid.uuid4().hex, customer={"id": "c"}, reason=Reason.manual
                ),
            )
            await machine.take(esc.id, agent)
            escs.append(esc.id)
        committed: dict[str, float] = {}
        for n in range(replies):
            _, msg = await machine.reply(escs[n % len(escs)], agent, f"reply {n}")
            committed[msg.id] = time.time()
            await asyncio.sleep(1 / rate)
        while True:
            got = {
                r.body["data"]["message"]["id"]: r.at
                for r in receiver.delivered()
                if r.body["type"] == "escalation.message"
            }
            if len(got) >= replies:
                break
            await asyncio.sleep(0.01)
        waits = sorted((got[m] - t) * 1000 for m, t in committed.items())
        return statistics.median(waits), waits[int(len(waits) * 0.99) - 1]
    finally:
        task.cancel()
        await relay.aclose()
        receiver.stop()
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    print(
        f"{'database':<10}{'1 escalation ev/s':>19}{'100 escalations ev/s':>22}"
        f"{'latency p50 ms':>16}{'p99 ms':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases:
            results = []
            for scenario in ((1, 500), (100, 10)):
                url, name = await database(kind, Path(tmp))
                try:
                    results.append(await throughput(url, *scenario))
                finally:
                    await drop(name)
            url, name = await database(kind, Path(tmp))
            try:
                p50, p99 = await latency(url, replies=200, rate=50)
            finally:
                await drop(name)
            print(f"{kind:<10}{results[0]:>19.0f}{results[1]:>22.0f}{p50:>16.1f}{p99:>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
