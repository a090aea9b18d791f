"""What a platform tells Baton about its bot's day: how many conversations it had, so the
digest can say what share of them were escalated."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.http.deps import PlatformDep, ServicesDep
from api.http.responses import errors_of
from api.http.schemas import ConversationCountBody
from storage import conversation_counts

router = APIRouter(prefix="/v1/stats", tags=["stats"])


class ConversationCountPublic(BaseModel):
    """What the platform said of a day."""

    date: dt.date = Field(description="The day (YYYY-MM-DD, in `sla.timezone`).")
    count: int = Field(description="Conversations the platform's bot had that day.")


@router.put(
    "/conversations/{date}",
    operation_id="setConversationCount",
    summary="Say how many conversations the platform's bot had on a day",
    response_model=ConversationCountPublic,
    response_description="The day's count, as recorded.",
    responses=errors_of(503),
)
async def put_conversations(
    day: Annotated[dt.date, Path(alias="date", description="YYYY-MM-DD, in sla.timezone")],
    body: ConversationCountBody,
    svc: ServicesDep,
    owner: PlatformDep,
) -> ConversationCountPublic:
    """Replaces what the platform said before for that day. The managers' daily digest
    divides the day's escalations of the platforms that reported by their conversations:
    the escalation rate. **422** for a date or a count that is not one."""
    await conversation_counts.record(svc.db, owner.platform_id, day, body.count)
    return ConversationCountPublic(date=day, count=body.count)
