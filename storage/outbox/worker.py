"""What every outbox worker shares: its id, the drain loop, and what an attempt's outcome
does to the row. Delivered, it is done. Failed, it is tried again after a growing, jittered
back-off, or given back untried when nothing happened; once its ``give_up_at`` has passed,
it is parked instead. A worker may also park a row at once, and keep holding one past its
lease. The Slack worker (``bot.delivery``) and the platform relay (``api.relay.platform``)
build on it and add only how they deliver.
"""

import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import ClassVar

from storage.database import Database
from storage.models import Topic
from storage.outbox import deliveries
from storage.outbox.deliveries import Claimed
from storage.outbox.drain import Drainer


def backoff(
    failures: int,
    first: timedelta,
    longest: timedelta,
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """The wait after the ``failures``-th failed attempt: ``first``, then twice as long each
    time up to ``longest``, each spread ±20 % so that many failed deliveries do not retry in
    lockstep."""
    # The exponent is capped: doubling even a second 47 times overflows timedelta.
    grown = first.total_seconds() * 2.0 ** min(failures - 1, 64)
    base = timedelta(seconds=min(longest.total_seconds(), grown))
    return base * (0.8 + 0.4 * rng())


class OutboxWorker(ABC):
    """Delivers the rows of one topic. A worker says how to deliver a row (``_deliver``,
    which records the outcome with ``_done``, ``_failed`` or ``_park``) and what to log
    (``_retrying``; ``_giving_up``, which may also change the error a row is parked with)."""

    topic: ClassVar[Topic]
    first_retry: ClassVar[timedelta]  # the back-off after the first failure
    longest_wait: ClassVar[timedelta]  # and the longest it grows to

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        concurrency: int,
        poll_interval: float,
        rng: Callable[[], float],
        excluded_platforms: Callable[[], Collection[str]] = lambda: (),
    ) -> None:
        self.db, self.rng = db, rng
        self.worker_id = f"{name}-{uuid.uuid4().hex[:12]}"
        self._drainer = Drainer(
            db,
            self.topic,
            self.worker_id,
            self._deliver,
            concurrency=concurrency,
            poll_interval=poll_interval,
            excluded_platforms=excluded_platforms,
        )

    async def run(self) -> None:
        """Deliver until cancelled: woken by each commit, and polling for other replicas'
        rows and for retries coming due."""
        await self._drainer.run()

    async def run_once(self) -> int:
        """Deliver everything due now (one round per escalation); for tests and tools."""
        return await self._drainer.run_once()

    async def drain(self, rounds: int = 1000) -> int:
        """Keep delivering until nothing more is due now."""
        return await self._drainer.drain(rounds)

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop (cancel ``run`` first), giving deliveries under way ``grace`` seconds."""
        await self._drainer.aclose(grace)

    @abstractmethod
    async def _deliver(self, row: Claimed) -> None:
        """One attempt at ``row``, its outcome recorded."""

    # --------------------------------------------------------------------------- outcome

    def _backoff(self, row: Claimed) -> timedelta:
        """How long to wait before trying again, should this attempt fail."""
        return backoff(row.attempts + 1, self.first_retry, self.longest_wait, self.rng)

    async def _done(self, row: Claimed) -> None:
        await deliveries.mark_done(self.db, row, self.worker_id)

    async def _failed(
        self, row: Claimed, error: str, wait: timedelta, *, untried: bool = False
    ) -> None:
        """The attempt failed: try again after ``wait``. An attempt that did nothing
        (``untried``) gives the row back without counting; a row past its ``give_up_at``
        is parked."""
        now = self.db.clock.now()
        if untried:
            await deliveries.defer(self.db, row, self.worker_id, now + wait)
            return
        if row.give_up_at is not None and now >= row.give_up_at:
            await self._park(row, self._giving_up(row, error))
            return
        self._retrying(row, error, wait)
        await deliveries.mark_retry(self.db, row, self.worker_id, error, now + wait)

    async def _park(self, row: Claimed, error: str) -> None:
        """No more attempts until someone replays the row."""
        await deliveries.mark_failed(self.db, row, self.worker_id, error)

    async def _renew(self, row: Claimed, seconds_more: float = 0.0) -> bool:
        """Keep holding ``row`` for a wait of ``seconds_more`` and a lease after it; False if
        the lease ran out and another worker holds the row now."""
        until = self.db.clock.now() + timedelta(seconds=seconds_more) + deliveries.LEASE
        return await deliveries.renew(self.db, row, self.worker_id, until)

    @abstractmethod
    def _retrying(self, row: Claimed, error: str, wait: timedelta) -> None:
        """Log a failed attempt that will be tried again after ``wait``."""

    def _giving_up(self, row: Claimed, error: str) -> str:
        """Log giving up on a row that failed until its ``give_up_at``; returns the error
        the row is parked with."""
        return error
