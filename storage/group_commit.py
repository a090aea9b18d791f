"""Group commit: writes that arrive together share one transaction.

Under load, dozens of requests want to write at the same moment. Each would pay for its
own BEGIN, its statements' round trips and COMMIT, one after another (SQLite has one writer
at a time). Instead, whatever is waiting when the writer becomes free is written as one
batch, in one transaction, with multi-row statements. A lone request is written at once,
with no delay. If a batch fails, its items are retried one by one, so one bad item fails
only itself.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database

T = TypeVar("T")
R = TypeVar("R")

WriteBatch = Callable[[AsyncSession, list[T]], Awaitable[list[R]]]


class GroupCommit(Generic[T, R]):
    def __init__(self, db: Database, write: WriteBatch[T, R], max_batch: int = 64) -> None:
        self.db = db
        self.write = write
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            try:
                async with self.db.write() as s:
                    results = await self.write(s, [item for item, _ in batch])
            except Exception as error:
                if len(batch) == 1:
                    _fail(batch[0][1], error)
                else:
                    await self._one_by_one(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[T, "asyncio.Future[R]"]]) -> None:
        for item, future in batch:
            try:
                async with self.db.write() as s:
                    (result,) = await self.write(s, [item])
            except Exception as error:
                _fail(future, error)
            else:
                if not future.done():
                    future.set_result(result)


def _fail(future: "asyncio.Future[R]", error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
