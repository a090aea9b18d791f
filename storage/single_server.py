"""One server per embedded SQLite file.

A process that drains the outbox on SQLite takes every claim it finds at start-up for a
leftover of a crash (there is no other process to hold one). A second such process on the
same file would take the first one's rows under its feet and post them again. So each of
them holds an exclusive lock on a file beside the database (``baton.db.lock``) for as long
as it runs: the operating system lets go of it when the process ends, however it ends
(kill -9 included), so a crash never leaves a stale lock behind. PostgreSQL needs none:
its workers claim rows with ``FOR UPDATE SKIP LOCKED``, and replicas are supported there.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


class CannotServe(Exception):
    """The database's lock is held by another process (or cannot be taken at all); the
    message says which and what to do."""


def sqlite_file(database_url: str) -> Path | None:
    """The file of an embedded SQLite database URL; None for PostgreSQL and in-memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def lock_file(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def serving_alone(database_url: str) -> Iterator[None]:
    """Hold the embedded database's lock for the block (a no-op on any other database);
    CannotServe if another process holds it."""
    database = sqlite_file(database_url)
    if database is None:
        yield
        return
    path = lock_file(database)
    try:
        # Not inherited by programs this process starts: the lock is this process's alone.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CannotServe(
            f"cannot open {path} to take the database's lock: {exc.strerror or exc}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise CannotServe(
                f"another Baton process{f' (pid {holder})' if holder else ''} serves "
                f"{database}; stop it first, or use PostgreSQL (BATON_DATABASE_URL) to run "
                "several processes"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # lets go of the lock; the file stays, for the next process to lock


def _holder(fd: int) -> str | None:
    """The pid the lock's holder wrote, if it has written it yet."""
    written = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return written if written.isdigit() else None
