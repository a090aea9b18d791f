"""What a platform tells Baton about its bot's day: how many conversations it had, so the
digest can say what share of them were escalated."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.http.deps import PlatformDep, ServicesDep
from api.http.errors import ErrorEnvelope
from api.http.schemas import ConversationCountBody
from storage import conversation_counts

router = APIRouter(prefix="/v1/stats", tags=["stats"])


class ConversationCountPublic(BaseModel):
    date: date
    count: int = Field(description="Conversations the platform's bot had that day.")


@router.put(
    "/conversations/{date}",
    response_model=ConversationCountPublic,
    responses={s: {"model": ErrorEnvelope} for s in (400, 401, 413, 422, 429, 503)},
    summary="Say how many conversations the platform's bot had on a day",
)
async def put_conversations(
    day: Annotated[date, Path(alias="date", description="YYYY-MM-DD, in sla.timezone")],
    body: ConversationCountBody,
    svc: ServicesDep,
    owner: PlatformDep,
) -> ConversationCountPublic:
    """Replaces what the platform said before for that day. The digest divides the day's
    escalations of the platforms that reported by their conversations: the escalation
    rate."""
    await conversation_counts.record(svc.db, owner.platform_id, day, body.count)
    return ConversationCountPublic(date=day, count=body.count)
