"""The loop every outbox worker runs: claim what is due, deliver each row in a task of its
own, and sleep until a commit wakes it or the poll interval passes (retries coming due,
rows written by other replicas)."""

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from storage.database import Database, cause, unavailable
from storage.models import Topic
from storage.outbox import deliveries
from storage.outbox.deliveries import Claimed
from storage.wake import woken

log = logging.getLogger("baton.outbox")


class Drainer:
    def __init__(
        self,
        db: Database,
        topic: Topic,
        worker_id: str,
        deliver: Callable[[Claimed], Coroutine[Any, Any, None]],
        *,
        concurrency: int,
        poll_interval: float = 1.0,
        excluded_platforms: Callable[[], Collection[str]] = lambda: (),
    ) -> None:
        self.db, self.topic, self.worker_id = db, topic, worker_id
        self.deliver = deliver
        self.concurrency, self.poll_interval = concurrency, poll_interval
        self.excluded_platforms = excluded_platforms
        self._inflight: dict[asyncio.Task[None], int] = {}  # each delivery's row id
        # A claim failed (it may have been committed all the same) or an outcome went
        # unrecorded: give back the rows this worker holds but is not working on.
        self._claims_unknown = False
        self._database_down = False  # claims are failing for want of a database
        self._wake = asyncio.Event()
        db.on_commit(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled."""
        if self.db.is_sqlite:
            # The embedded database has one process: claims left over are from a crash.
            await deliveries.release_claims(self.db, self.topic)
        while True:
            self._wake.clear()
            room = self.concurrency - len(self._inflight)
            try:
                if self._claims_unknown:
                    await deliveries.release_own(
                        self.db, self.topic, self.worker_id, list(self._inflight.values())
                    )
                    self._claims_unknown = False
                claimed = await self._claim(room)
            except Exception as exc:  # keep the worker alive, whatever went wrong
                self._could_not_claim(exc)
                self._claims_unknown = True
                claimed = []
            else:
                if self._database_down:
                    log.info("%s: the database answers again; claiming", self.topic)
                    self._database_down = False
            for row in claimed:
                self._start(row)
            if room > 0 and len(claimed) == room:
                continue  # a full claim: more may be due right now
            await woken(self._wake, self.poll_interval)

    def _could_not_claim(self, exc: Exception) -> None:
        """Log a failed claim: an outage once when it begins (a worker polls every second
        through it), anything else every time, with its traceback."""
        if not unavailable(exc):
            log.error("%s: could not claim rows", self.topic, exc_info=exc)
        elif not self._database_down:
            self._database_down = True
            driver_error = cause(exc)
            log.warning(
                "%s: the database is unavailable (%s: %s); trying every %.0fs",
                self.topic,
                type(driver_error).__name__,
                driver_error,
                self.poll_interval,
            )

    async def run_once(self) -> int:
        """Deliver everything due now (one round per escalation); for tests and tools."""
        claimed = await self._claim(self.concurrency)
        await asyncio.gather(*(self.deliver(row) for row in claimed))
        return len(claimed)

    async def drain(self, rounds: int = 1000) -> int:
        """Keep delivering until nothing more is due now."""
        total = 0
        for _ in range(rounds):
            done = await self.run_once()
            if done == 0:
                return total
            total += done
        return total

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop delivering (cancel ``run`` first): deliveries under way get ``grace``
        seconds to finish; the rest are cut short, and their rows handed back at once,
        their outcome unknown, instead of waiting out the lease."""
        if self._inflight and grace > 0:
            await asyncio.wait(list(self._inflight), timeout=grace)
        cut = list(self._inflight)
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        if cut:
            try:
                await deliveries.release_own(self.db, self.topic, self.worker_id, ())
            except Exception:  # stopping all the same: the rows wait out their lease
                log.warning("%s: could not hand back %d rows on stopping", self.topic, len(cut))

    async def _claim(self, limit: int) -> list[Claimed]:
        return await deliveries.claim_due(
            self.db,
            self.topic,
            self.worker_id,
            limit,
            exclude_platforms=self.excluded_platforms(),
        )

    def _start(self, row: Claimed) -> None:
        task = asyncio.create_task(self.deliver(row))
        self._inflight[task] = row.id

        def finished(t: asyncio.Task[None]) -> None:
            self._inflight.pop(t, None)
            self._wake.set()
            if not t.cancelled() and (error := t.exception()) is not None:
                log.error(
                    "%s: the outcome of outbox row %d was not recorded; it will be tried again",
                    self.topic,
                    row.id,
                    exc_info=error,
                )
                self._claims_unknown = True

        task.add_done_callback(finished)
