"""The platform API: escalations, their messages and their transitions."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from api.http.deps import PlatformDep, ServicesDep, platform_actor, resolve_agent
from api.http.errors import ApiError, ErrorEnvelope
from api.http.schemas import (
    AgentAction,
    Close,
    CreateEscalation,
    CustomerMessage,
    EscalationPage,
    NoNul,
    Note,
    Patch,
    Rating,
    Reply,
    SuggestionBody,
)
from storage import idempotency, queries
from storage.machine import UNSET, Actor, NewEscalation, NewMessage, Unset
from storage.models import Priority
from storage.public import (
    EscalationDetailPublic,
    EscalationPublic,
    EventPublic,
    MessagePublic,
    SuggestionPublic,
)

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])


def _errors(*statuses: int, body: bool = True) -> dict[int | str, dict[str, Any]]:
    common: tuple[int, ...] = (401, 413, 422, 429)
    if body:  # a body that is not UTF-8 cannot even be read as JSON: FastAPI answers 400
        common += (400,)
    return {s: {"model": ErrorEnvelope} for s in sorted({*common, *statuses})}


EscalationId = Annotated[str, Path(min_length=1, max_length=64, description="esc_…"), NoNul]


@router.post(
    "",
    status_code=201,
    response_model=EscalationPublic,
    responses={
        200: {"model": EscalationPublic, "description": "The conversation's active escalation"},
        **_errors(409, 503),
    },
)
async def create_escalation(
    body: CreateEscalation,
    svc: ServicesDep,
    owner: PlatformDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255), NoNul
    ] = None,
) -> EscalationPublic | JSONResponse:
    claim = None
    if idempotency_key is not None:
        fingerprint = idempotency.request_fingerprint(body.model_dump(mode="json"))
        found = await idempotency.claim(svc.db, owner.platform_id, idempotency_key, fingerprint)
        if isinstance(found, idempotency.StoredResponse):
            return JSONResponse(
                found.body, status_code=found.status_code, headers={"Idempotent-Replayed": "true"}
            )
        claim = found
    try:
        new = await _new_escalation(svc, body)
        esc, created = await svc.machine.create(owner.platform_id, new, idempotency=claim)
    except BaseException:
        if claim is not None:
            await idempotency.release(svc.db, claim)
        raise
    if created:
        svc.metrics.escalations_created.inc()
    else:
        response.status_code = 200
    return EscalationPublic.of(esc)


async def _new_escalation(svc: ServicesDep, body: CreateEscalation) -> NewEscalation:
    return NewEscalation(
        conversation_id=body.conversation_id,
        customer=body.customer.model_dump(mode="json"),
        reason=body.reason,
        priority=body.priority if body.priority is not None else svc.config.api.default_priority,
        channel=body.channel,
        reason_detail=body.reason_detail,
        summary=body.summary,
        confidence=body.confidence,
        transcript=[
            NewMessage(
                role=m.role,
                content=m.content,
                sent_at=m.timestamp,
                attachments=[a.model_dump(mode="json") for a in m.attachments],
            )
            for m in body.transcript
        ],
        context=body.context.model_dump(mode="json"),
        assign_to=(
            await resolve_agent(svc, body.assign_to, "assign_to") if body.assign_to else None
        ),
    )


@router.get("", response_model=EscalationPage, responses=_errors(503, body=False))
async def list_escalations(
    svc: ServicesDep,
    owner: PlatformDep,
    status: Literal["queued", "taken", "returned", "closed", "active"] | None = None,
    priority: Priority | None = None,
    channel: Annotated[str | None, Query(max_length=255), NoNul] = None,
    assignee: Annotated[str | None, Query(max_length=255), NoNul] = None,
    conversation_id: Annotated[str | None, Query(max_length=255), NoNul] = None,
    q: Annotated[str | None, Query(max_length=200), NoNul] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200), NoNul] = None,
) -> EscalationPage:
    if assignee is not None:
        # Anyone Slack knows, deactivated or not: their past escalations are still theirs.
        assignee = (await resolve_agent(svc, assignee, "assignee", current=False)).id
    filters = queries.EscalationFilter(
        status=status,
        priority=priority,
        channel=channel,
        assignee=assignee,
        conversation_id=conversation_id,
        q=q,
    )
    try:
        page = await queries.list_escalations(
            svc.db, owner.platform_id, filters, limit=limit, cursor=cursor
        )
    except queries.BadCursor as exc:
        raise ApiError(
            422, "validation_error", f"cursor: {exc}", [{"field": "cursor", "message": str(exc)}]
        ) from None
    return EscalationPage(
        data=[EscalationPublic.of(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/{escalation_id}", response_model=EscalationDetailPublic, responses=_errors(404, body=False)
)
async def get_escalation(
    escalation_id: EscalationId, svc: ServicesDep, owner: PlatformDep
) -> EscalationDetailPublic:
    esc = await queries.get_escalation(svc.db, owner.platform_id, escalation_id)
    messages, events = await queries.get_history(svc.db, esc.id)
    return EscalationDetailPublic.of_history(esc, messages, events)


@router.post(
    "/{escalation_id}/messages",
    status_code=201,
    response_model=MessagePublic,
    responses={
        200: {"model": MessagePublic, "description": "A repeated external_id: the original"},
        **_errors(404, 409),
    },
)
async def add_message(
    escalation_id: EscalationId,
    body: CustomerMessage,
    svc: ServicesDep,
    owner: PlatformDep,
    response: Response,
) -> MessagePublic:
    new = NewMessage(
        role=body.role,
        content=body.content,
        sent_at=body.timestamp,
        attachments=[a.model_dump(mode="json") for a in body.attachments],
        external_id=body.external_id,
    )
    msg, created = await svc.machine.for_platform(owner.platform_id).add_customer_message(
        escalation_id, new
    )
    if not created:
        response.status_code = 200
    return MessagePublic.of(msg)


@router.post(
    "/{escalation_id}/take", response_model=EscalationPublic, responses=_errors(404, 409, 503)
)
async def take(
    escalation_id: EscalationId, body: AgentAction, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).take(escalation_id, agent)
    svc.metrics.transitions.labels("take").inc()
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/reply",
    status_code=201,
    response_model=MessagePublic,
    responses=_errors(403, 404, 409, 503),
)
async def reply(
    escalation_id: EscalationId, body: Reply, svc: ServicesDep, owner: PlatformDep
) -> MessagePublic:
    agent = await resolve_agent(svc, body.agent, "agent")
    attachments = [a.model_dump(mode="json") for a in body.attachments]
    machine = svc.machine.for_platform(owner.platform_id)
    _, msg = await machine.reply(escalation_id, agent, body.content, attachments)
    svc.metrics.transitions.labels("reply").inc()
    return MessagePublic.of(msg)


@router.post(
    "/{escalation_id}/notes",
    status_code=201,
    response_model=EventPublic,
    responses=_errors(404, 503),
)
async def add_note(
    escalation_id: EscalationId, body: Note, svc: ServicesDep, owner: PlatformDep
) -> EventPublic:
    agent = await resolve_agent(svc, body.agent, "agent")
    event = await svc.machine.for_platform(owner.platform_id).add_note(
        escalation_id, agent, body.content
    )
    return EventPublic.of(event)


@router.post(
    "/{escalation_id}/return",
    response_model=EscalationPublic,
    responses=_errors(403, 404, 409, 503),
)
async def return_to_bot(
    escalation_id: EscalationId, body: AgentAction, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).return_to_bot(escalation_id, agent)
    svc.metrics.transitions.labels("return").inc()
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/close", response_model=EscalationPublic, responses=_errors(403, 404, 409, 503)
)
async def close(
    escalation_id: EscalationId, body: Close, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).close(
        escalation_id,
        agent,
        body.resolution,
        note=body.note,
        keep_ai_paused=body.keep_ai_paused,
    )
    svc.metrics.transitions.labels("close").inc()
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/suggestions",
    status_code=201,
    response_model=SuggestionPublic,
    responses=_errors(404, 409, 503),
    summary="Suggest a reply: posted in the card's thread for the owner to send",
)
async def suggest(
    escalation_id: EscalationId, body: SuggestionBody, svc: ServicesDep, owner: PlatformDep
) -> SuggestionPublic:
    """The owner sends it with **Send**, or edits it first (**Edit and send**); it reaches
    the customer as their reply (``escalation.message`` with ``message.suggestion_id``).
    409 ``invalid_transition`` unless the escalation is queued or taken."""
    machine = svc.machine.for_platform(owner.platform_id)
    sug = await machine.suggest(escalation_id, body.content, body.markdown, platform_actor(owner))
    return SuggestionPublic.of(sug)


@router.post(
    "/{escalation_id}/rating",
    response_model=EscalationPublic,
    responses=_errors(404, 409, 503),
    summary="Record the customer's rating of a returned or closed escalation",
)
async def rate(
    escalation_id: EscalationId, body: Rating, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """A later rating replaces an earlier one (the audit trail keeps both). 409
    ``invalid_transition`` while the escalation is queued or taken."""
    machine = svc.machine.for_platform(owner.platform_id)
    esc = await machine.rate(escalation_id, body.score, body.comment, platform_actor(owner))
    svc.metrics.transitions.labels("rate").inc()
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/resume_ai",
    response_model=EscalationPublic,
    responses=_errors(404, 409, 503, body=False),
    summary="Resume the AI of an escalation closed with the AI kept paused",
)
async def resume_ai(
    escalation_id: EscalationId, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """Sends ``escalation.ai_resumed`` once; a second call, or an escalation that is not
    closed with ``keep_ai_paused``, answers 409 ``invalid_transition``."""
    machine = svc.machine.for_platform(owner.platform_id)
    esc = await machine.resume_ai(escalation_id, platform_actor(owner))
    svc.metrics.transitions.labels("resume_ai").inc()
    return EscalationPublic.of(esc)


@router.patch("/{escalation_id}", response_model=EscalationPublic, responses=_errors(404, 409, 503))
async def update(
    escalation_id: EscalationId, body: Patch, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    assignee: Actor | Unset | None = UNSET
    if "assignee" in body.model_fields_set:
        assignee = await resolve_agent(svc, body.assignee, "assignee") if body.assignee else None
    esc = await svc.machine.for_platform(owner.platform_id).update(
        escalation_id,
        platform_actor(owner),
        priority=body.priority if body.priority is not None else UNSET,
        assignee=assignee,
        note=body.note,
    )
    return EscalationPublic.of(esc)
