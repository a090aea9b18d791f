"""What the Slack worker needs to bring a customer's file into a card's thread: something
that fetches it from the customer's side. The fetching itself (the callback rules: public
addresses only, no redirects to private ones, a size cap, a timeout) belongs to ``api``,
which hands the worker a ``FileSource``.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

CHUNK = 64 * 1024


class NotFetched(Exception):
    """The file could not be fetched. ``retry``: it may work later (a timeout, a 5xx);
    otherwise (a 404, too large, a refused address) it never will, and ``reason`` says why
    in words an agent understands."""

    def __init__(self, reason: str, *, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry


@dataclass
class FetchedFile:
    """A fetched file, spooled (to disk past a small size): never whole in memory."""

    file: BinaryIO
    size: int
    content_type: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.file.close()


class FileSource(Protocol):
    async def fetch(self, url: str) -> FetchedFile:
        """The file at ``url``, or ``NotFetched``."""
        ...

    async def aclose(self) -> None: ...
