"""The yardstick: a minimal FastAPI + SQLModel endpoint that inserts one row.

Run as ``uvicorn benchmarks.minimal_app:app [--workers N]``; ``BENCH_DATABASE_URL`` picks
the database.
"""

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlmodel import Field, SQLModel

from storage.database import Database


class Ticket(SQLModel, table=True):
    __tablename__ = "bench_tickets"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str
    reason: str
    created_at: datetime


class NewTicket(SQLModel):
    conversation_id: str
    reason: str


db = Database(os.environ["BENCH_DATABASE_URL"])


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Several worker processes may race to create the table; one wins, which is enough.
    with contextlib.suppress(IntegrityError, ProgrammingError):
        async with db.engine.begin() as conn:
            await conn.run_sync(Ticket.metadata.create_all, tables=[Ticket.__table__])
    yield
    await db.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/tickets", status_code=201)
async def create(body: NewTicket) -> Ticket:
    ticket = Ticket(**body.model_dump(), created_at=datetime.now(UTC))
    async with db.write() as s:
        s.add(ticket)
    return ticket
