"""A real platform on loopback: receives Baton's events over HTTP and verifies each signature
with the standardwebhooks package, as a platform would. Its answers can be scripted."""

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.demo.loopback import LoopbackServer


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    """``answer(webhook_id, attempt)`` returns a status code, or a float: seconds to hang."""

    secret: str = ""
    answer: Callable[[str, int], int | float] = lambda _id, _n: 200
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/baton/events", self._handle, methods=["POST"])])
        self._server = LoopbackServer(app, "receiver", lifespan="off")

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/baton/events"

    def delivered(self) -> list[Received]:
        """Accepted (2xx) deliveries, in arrival order."""
        with self._lock:
            return [r for r in self.received if r.verified]

    def unique_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.delivered():
            seen.setdefault(r.webhook_id)
        return list(seen)

    async def _handle(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        webhook_id = request.headers.get("webhook-id", "")
        with self._lock:
            attempt = self.attempts[webhook_id] = self.attempts.get(webhook_id, 0) + 1
        answer = self.answer(webhook_id, attempt)
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 200
        try:
            Webhook(self.secret).verify(raw, dict(request.headers))
            verified = True
        except WebhookVerificationError:
            verified = False
            answer = 401
        if 200 <= answer < 300:
            with self._lock:
                self.received.append(Received(webhook_id, json.loads(raw), verified))
        return Response(status_code=answer)

    def start(self) -> "Receiver":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
