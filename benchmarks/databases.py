"""A database of its own for each benchmark run: a SQLite file in a temporary directory, or
a PostgreSQL database created on the server in ``BATON_TEST_PG_URL`` and dropped after."""

import os
import uuid
from pathlib import Path

import asyncpg

PG_ADMIN = os.environ.get("BATON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def database(kind: str, workdir: Path) -> tuple[str, str | None]:
    """The URL of a fresh database, and the PostgreSQL database's name to ``drop`` later."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/{uuid.uuid4().hex}.db", None
    name = f"baton_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


async def drop(name: str | None) -> None:
    if name:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
