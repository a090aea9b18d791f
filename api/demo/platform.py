"""The demo's stand-in bot platform: it receives Baton's events on loopback and verifies
each one's Standard Webhooks signature, as a real platform must, before accepting it.

It can be told to fail (``Fault``) so that the demo shows what a broken platform looks like
from Baton's side.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.demo.loopback import LoopbackServer

EVENTS_PATH = "/baton/events"
FILES_PATH = "/files"  # where the customer's own files are served, as a chat platform would
# A well-formed secret that is not the one Baton signs with.
OTHER_SECRET = "whsec_" + "QmF0b24gZGVtbzogbm90IHRoZSByZWFsIHNlY3JldA=="


class Fault(StrEnum):
    none = "none"
    down = "down"  # answers 503 to everything, as a platform mid-outage
    wrong_secret = "wrong-secret"  # verifies with another secret, so refuses every event


@dataclass(frozen=True)
class Received:
    """One attempt Baton made, and what the platform answered."""

    webhook_id: str
    type: str
    escalation_id: str
    data: dict[str, Any]
    status: int
    problem: str | None  # why it was refused; None when accepted


class PlatformTimeout(Exception):
    pass


class DemoPlatform:
    def __init__(self, fault: Fault = Fault.none) -> None:
        self.fault = fault
        self.secret = ""  # the whsec_ secret Baton gave at registration
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._files: dict[str, tuple[str, bytes]] = {}
        app = Starlette(
            routes=[
                Route(EVENTS_PATH, self._receive, methods=["POST"]),
                Route(FILES_PATH + "/{name}", self._file, methods=["GET"]),
            ]
        )
        self._server = LoopbackServer(app, "demo platform", lifespan="off")

    @property
    def callback_url(self) -> str:
        return self._server.base_url + EVENTS_PATH

    def host_file(self, name: str, mime_type: str, content: bytes) -> str:
        """A customer's file, served by the platform; returns its URL."""
        self._files[name] = (mime_type, content)
        return f"{self._server.base_url}{FILES_PATH}/{name}"

    async def _file(self, request: Request) -> Response:
        found = self._files.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        return Response(found[1], media_type=found[0])

    def start(self) -> "DemoPlatform":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def accepted(self) -> list[Received]:
        """Each accepted event once (Baton delivers at least once), in arrival order."""
        with self._changed:
            seen: dict[str, Received] = {}
            for item in self._received:
                if item.problem is None:
                    seen.setdefault(item.webhook_id, item)
            return list(seen.values())

    def wait_for(
        self,
        event_type: str,
        escalation_id: str,
        timeout: float,
        where: Callable[[Received], bool] = lambda _: True,
    ) -> Received:
        """The first accepted event of this type for this escalation (and, with ``where``,
        that it holds for); PlatformTimeout naming every refusal if it does not arrive in
        time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._find(event_type, escalation_id, where)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PlatformTimeout(self._why_missing(event_type, timeout))
                self._changed.wait(left)

    def _find(
        self, event_type: str, escalation_id: str, where: Callable[[Received], bool]
    ) -> Received | None:
        for item in self._received:
            ok = item.problem is None and item.type == event_type
            if ok and item.escalation_id == escalation_id and where(item):
                return item
        return None

    def _why_missing(self, event_type: str, timeout: float) -> str:
        refused = [r for r in self._received if r.problem is not None]
        waited = f"the platform did not accept {event_type} within {timeout:g}s"
        if not refused:
            return f"{waited}: Baton did not deliver it"
        last = refused[-1]
        return (
            f"{waited}: it refused {len(refused)} attempt(s), the last one "
            f"({last.type or 'unreadable'}) with HTTP {last.status}: {last.problem}. Baton "
            "keeps the event and retries it with growing back-off, so a platform that "
            "recovers loses nothing"
        )

    async def _receive(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        headers = dict(request.headers)
        status, problem = self._judge(raw, headers)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        item = Received(
            webhook_id=headers.get("webhook-id", ""),
            type=str(body.get("type", "")) if isinstance(body, dict) else "",
            escalation_id=str(data.get("escalation_id", "")),
            data=data,
            status=status,
            problem=problem,
        )
        with self._changed:
            self._received.append(item)
            self._changed.notify_all()
        if problem is None:
            return Response(status_code=status)
        return JSONResponse({"error": problem}, status_code=status)

    def _judge(self, raw: str, headers: dict[str, str]) -> tuple[int, str | None]:
        if self.fault is Fault.down:
            return 503, "the platform is down (baton demo --break-platform down)"
        secret = OTHER_SECRET if self.fault is Fault.wrong_secret else self.secret
        try:
            Webhook(secret).verify(raw, headers)
        except WebhookVerificationError as exc:
            hint = " (baton demo --break-platform wrong-secret)" if secret != self.secret else ""
            return 401, f"signature did not verify: {exc}{hint}"
        return 200, None
