"""Files both ways, as deployed: ``baton serve`` as a process, the Slack stand-in and a
customer's file server in this process.

- Agent → customer: an agent shares a file of ``--mib`` MiB (made by the stand-in as it is
  read) in a card's thread; the platform downloads it from ``GET /v1/files/{id}``. Prints
  the throughput and how much the Baton process's resident memory grew meanwhile.
- Customer → agent: a customer message with a ``--upload-mib`` MiB attachment; prints the
  time from the message's 201 to the file shared in the thread (fetch, upload, finish).

    python benchmarks/files.py [--mib 200] [--upload-mib 5] [--databases sqlite postgres]
"""

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.demo.loopback import LoopbackServer  # noqa: E402
from api.demo.slack_standin import BOT_USER, generated  # noqa: E402
from benchmarks.stack import AGENTS, CHANNEL, Stack, escalation, running, send, until  # noqa: E402

MiB = 1024**2


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def sampled_peak(pid: int, done: asyncio.Event) -> int:
    peak = rss(pid)
    while not done.is_set():
        peak = max(peak, rss(pid))
        await asyncio.sleep(0.005)
    return max(peak, rss(pid))


async def _taken_escalation(stack: Stack, api: httpx.AsyncClient) -> tuple[str, str]:
    """An escalation with its card in Slack, taken by an agent: its id and card's ts."""
    created = await api.post("/v1/escalations", json=escalation(0, customer="cust_files"))
    esc_id = created.json()["id"]
    card = await until(lambda: stack.slack.card(esc_id), "the card", 30)
    taken = await api.post(f"/v1/escalations/{esc_id}/take", json={"agent": AGENTS[0]})
    assert taken.status_code == 200, taken.text
    return esc_id, str(card.ts)


async def to_customer(stack: Stack, size: int) -> str:
    api = stack.api(timeout=300)
    esc_id, card_ts = await _taken_escalation(stack, api)
    shared = stack.slack.post_file_as_user(
        CHANNEL, AGENTS[0], "backup.tar", generated(size, seed=3), size=size, thread_ts=card_ts
    )
    answered = await send(stack.slack_client(), stack.signer.message_event_for(shared))
    assert answered.status_code == 200

    async def attachment() -> str | None:
        detail = (await api.get(f"/v1/escalations/{esc_id}")).json()
        mine = [m for m in detail["messages"] if m["role"] == "agent" and m["attachments"]]
        return str(mine[0]["attachments"][0]["id"]) if mine else None

    att_id = None
    while att_id is None:
        att_id = await attachment()
        await asyncio.sleep(0.01)
    pid, digest, received = stack.server.pid, hashlib.sha256(), 0
    before, done = rss(pid), asyncio.Event()
    sampler = asyncio.create_task(sampled_peak(pid, done))
    started = time.perf_counter()
    async with api.stream("GET", f"/v1/files/{att_id}") as response:
        assert response.status_code == 200, response.status_code
        async for chunk in response.aiter_raw():
            digest.update(chunk)
            received += len(chunk)
    took = time.perf_counter() - started
    done.set()
    peak = await sampler
    assert received == size
    assert digest.hexdigest() == stack.slack.files[shared.files[0]["id"]].sha256()
    return (
        f"{size / MiB:.0f} MiB in {took:.2f}s = {size / MiB / took:.0f} MiB/s; "
        f"Baton's RSS {before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB "
        f"(+{(peak - before) / MiB:.1f} MiB)"
    )


async def to_agent(stack: Stack, size: int) -> str:
    content = os.urandom(size)

    async def serve(_: Request) -> Response:
        return Response(content, media_type="application/pdf")

    server = LoopbackServer(
        Starlette(routes=[Route("/statement.pdf", serve)]), "file server", lifespan="off"
    ).start()
    try:
        api = stack.api(timeout=60)
        esc_id, card_ts = await _taken_escalation(stack, api)
        body = {
            "content": "my statement",
            "attachments": [{"url": f"{server.base_url}/statement.pdf", "name": "statement.pdf"}],
        }
        started = time.perf_counter()
        answered = await api.post(f"/v1/escalations/{esc_id}/messages", json=body)
        answer_ms = (time.perf_counter() - started) * 1000
        assert answered.status_code == 201, answered.text

        def uploaded() -> bool:
            files = stack.slack.files_in_thread(CHANNEL, card_ts)
            return any(f.user == BOT_USER and f.name == "statement.pdf" for f in files)

        await until(uploaded, "the upload", 60, every=0.002)
        took = time.perf_counter() - started
    finally:
        server.stop()
    return (
        f"{size / MiB:.0f} MiB: 201 in {answer_ms:.1f} ms; in the thread {took * 1000:.0f} ms "
        "after the request"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--upload-mib", type=int, default=5)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    limit = f'[files]\nmax_bytes = "{max(args.mib, args.upload_mib) + 1}MiB"\n'
    for kind in args.databases:
        with tempfile.TemporaryDirectory(prefix="baton-bench-") as workdir:
            async with running(kind, Path(workdir), extra_config=limit) as stack:
                print(f"{kind:<10} agent → customer   {await to_customer(stack, args.mib * MiB)}")
                print(
                    f"{kind:<10} customer → agent   {await to_agent(stack, args.upload_mib * MiB)}"
                )


if __name__ == "__main__":
    asyncio.run(main())
