"""The platform relay: delivers each escalation event to its platform's callback URL.

Signed per Standard Webhooks (the same ``webhook-id`` on every attempt), in order per
escalation, retried with growing, jittered back-off (honouring ``Retry-After``) for 24
hours, then parked until replayed; 410 Gone parks at once. Every attempt checks the
callback's resolved address again and connects to exactly the address it checked, without
following redirects. A slow platform holds up only its own deliveries.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from prometheus_client import CollectorRegistry, Counter
from standardwebhooks.webhooks import Webhook

from api.relay import webhooks
from api.relay.callback_urls import Resolver, system_resolver
from api.relay.webhooks import Outcome
from storage.database import Database
from storage.models import Topic
from storage.outbox import worker
from storage.outbox.deliveries import Claimed
from storage.outbox.worker import OutboxWorker
from storage.platforms import platform_of
from storage.sealing import SecretBox

log = logging.getLogger("baton.relay")

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(hours=1)
_PLATFORM_CACHE_SECONDS = 30.0


def backoff(failures: int, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait after the ``failures``-th failed attempt: 5 s, 10 s, 20 s … up to an hour,
    each spread ±20 % so that many failed deliveries do not retry in lockstep."""
    return worker.backoff(failures, FIRST_RETRY, LONGEST_WAIT, rng)


@dataclass(frozen=True)
class Destination:
    url: str
    signer: Webhook


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "baton_relay_attempts_total",
            "Attempts to deliver an event to a platform",
            ["outcome"],
            registry=registry,
        )


class Relay(OutboxWorker):
    topic = Topic.platform
    first_retry, longest_wait = FIRST_RETRY, LONGEST_WAIT

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        timeout: httpx.Timeout | None = None,
        concurrency: int = 32,
        per_platform: int = 8,
        poll_interval: float = 1.0,
        rng: Callable[[], float] = random.random,
        metrics: RelayMetrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            db,
            "relay",
            concurrency=concurrency,
            poll_interval=poll_interval,
            rng=rng,
            excluded_platforms=self._full_platforms,
        )
        self.box = box
        self.allow_private, self.resolver = allow_private, resolver
        self.timeout = timeout or httpx.Timeout(10.0, connect=5.0, pool=5.0)
        self.concurrency, self.per_platform = concurrency, per_platform
        self.poll_interval, self.metrics = poll_interval, metrics
        self._client = webhooks.client(self.timeout, transport)
        self._destinations: dict[str, tuple[float, Destination]] = {}
        self._busy: dict[str, int] = {}

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop (cancel ``run`` first), giving deliveries under way ``grace`` seconds."""
        await super().aclose(grace)
        await self._client.aclose()

    def _full_platforms(self) -> list[str]:
        """Platforms with as many deliveries in flight as one platform may have."""
        return [p for p, n in self._busy.items() if n >= self.per_platform]

    # --------------------------------------------------------------------------- delivery

    async def _deliver(self, row: Claimed) -> None:
        platform = row.platform_id or ""
        self._busy[platform] = self._busy.get(platform, 0) + 1
        try:
            outcome = await self._attempt(row)
            await self._record(row, outcome)
        except Exception:
            log.exception("relay: delivery %s of %s failed unexpectedly", row.id, row.event_id)
        finally:
            self._busy[platform] -= 1

    async def _attempt(self, row: Claimed) -> Outcome:
        destination = await self._destination(row.platform_id or "")
        return await webhooks.deliver(
            self._client,
            destination.url,
            destination.signer,
            row.event_id or f"outbox_{row.id}",
            row.payload,
            allow_private=self.allow_private,
            resolver=self.resolver,
            now=self.db.clock.now(),
        )

    async def _record(self, row: Claimed, outcome: Outcome) -> None:
        if outcome.delivered:
            self._count("delivered")
            await self._done(row)
            return
        error = outcome.error or "failed"
        if outcome.gone:
            self._count("gone")
            log.warning("relay: %s answered 410 Gone; parked %s", row.platform_id, row.event_id)
            await self._park(row, f"{error} (gone)")
            return
        wait = self._backoff(row)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        await self._failed(row, error, wait)

    def _retrying(self, row: Claimed, error: str, wait: timedelta) -> None:
        self._count("retry")
        log.info(
            "relay: %s attempt %d failed (%s); next in %.0fs",
            row.event_id,
            row.attempts + 1,
            error,
            wait.total_seconds(),
        )

    def _giving_up(self, row: Claimed, error: str) -> str:
        self._count("parked")
        log.warning(
            "relay: giving up on %s after %d attempts: %s", row.event_id, row.attempts + 1, error
        )
        return error

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.attempts.labels(outcome).inc()

    async def _destination(self, platform_id: str) -> Destination:
        cached = self._destinations.get(platform_id)
        if cached is not None and time.monotonic() - cached[0] < _PLATFORM_CACHE_SECONDS:
            return cached[1]
        platform = await platform_of(self.db, platform_id)
        destination = Destination(
            platform.callback_url, Webhook(self.box.open(platform.webhook_secret_sealed))
        )
        self._destinations[platform_id] = (time.monotonic(), destination)
        return destination
