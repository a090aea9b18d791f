"""The platform API: escalations, their messages and their transitions."""

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from api.http.deps import PlatformDep, ServicesDep, platform_actor, resolve_agent
from api.http.errors import ApiError
from api.http.responses import errors_of
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


EscalationId = Annotated[
    str, Path(min_length=1, max_length=64, description="The escalation's id, `esc_…`."), NoNul
]
ENDED = "`invalid_transition`: the escalation is returned or closed."


@router.post(
    "",
    operation_id="createEscalation",
    summary="Escalate a conversation",
    status_code=201,
    response_model=EscalationPublic,
    response_description="The new escalation.",
    responses={
        200: {
            "model": EscalationPublic,
            "description": "The conversation's active escalation: none was created.",
        },
        **errors_of(
            409,
            503,
            meanings={
                409: "`conflict`: a request with this `Idempotency-Key` is still in flight; "
                "retry after `Retry-After`.",
                422: "`validation_error`: a field is missing, unknown or wrong (`details` "
                "names each), or `assign_to` names no agent; `idempotency_mismatch`: the "
                "`Idempotency-Key` was used with another body.",
            },
        ),
    },
)
async def create_escalation(
    body: CreateEscalation,
    svc: ServicesDep,
    owner: PlatformDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Makes retrying safe: the same key with the same body answers what "
            "the first request answered, for at least 24 hours.",
        ),
        NoNul,
    ] = None,
) -> EscalationPublic | JSONResponse:
    """Hands a conversation to the support team. The card is posted in Slack, and the
    platform gets `escalation.created`: it shows the customer `customer_message` and pauses
    its AI. With `assign_to` the escalation is taken at once, and `escalation.taken` follows.

    A conversation has one active (queued or taken) escalation at a time: while it has one,
    this answers **200** with it and creates nothing; otherwise **201** with the new one.

    With an `Idempotency-Key`, a retry with the same key and the same body answers what the
    first request answered (with `Idempotent-Replayed: true`); the same key with another
    body answers **422** `idempotency_mismatch`, and while the first request is still in
    flight, **409** `conflict`. **422** also names any field that is missing, unknown or
    wrong. **503** if Slack cannot be asked who `assign_to` is."""
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


@router.get(
    "",
    operation_id="listEscalations",
    summary="List escalations",
    response_model=EscalationPage,
    response_description="A page of escalations, newest first.",
    responses=errors_of(503, body=False),
)
async def list_escalations(
    svc: ServicesDep,
    owner: PlatformDep,
    status: Annotated[
        Literal["queued", "taken", "returned", "closed", "active"] | None,
        Query(description="Only those in this status; `active` is queued or taken."),
    ] = None,
    priority: Annotated[Priority | None, Query(description="Only those of this priority.")] = None,
    channel: Annotated[
        str | None,
        Query(max_length=255, description="Only those from this customer channel."),
        NoNul,
    ] = None,
    assignee: Annotated[
        str | None,
        Query(max_length=255, description="Only those owned by this agent (Slack id or email)."),
        NoNul,
    ] = None,
    conversation_id: Annotated[
        str | None, Query(max_length=255, description="Only those of this conversation."), NoNul
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only those with this text in a message, the customer's name, the "
            "reason or its detail (case-insensitive, anywhere in a word).",
        ),
        NoNul,
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Escalations per page.")] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="The `next_cursor` of the page before."),
        NoNul,
    ] = None,
) -> EscalationPage:
    """The platform's escalations, newest first, that match every filter given. A page holds
    up to `limit`; pass its `next_cursor` as `cursor` for the next one (null on the last).
    **422** for a value out of its range, a `cursor` that is not one, or an `assignee` that
    names no agent."""
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
    "/{escalation_id}",
    operation_id="getEscalation",
    summary="Get an escalation with its history",
    response_model=EscalationDetailPublic,
    response_description="The escalation, its context, its messages and its audit trail.",
    responses=errors_of(404, body=False),
)
async def get_escalation(
    escalation_id: EscalationId, svc: ServicesDep, owner: PlatformDep
) -> EscalationDetailPublic:
    """One escalation with what the bot gave (`context`), the conversation (`messages`) and
    everything that happened to it (`events`, the audit trail), both oldest first. **404**
    if the platform has no escalation with this id."""
    esc = await queries.get_escalation(svc.db, owner.platform_id, escalation_id)
    messages, events = await queries.get_history(svc.db, esc.id)
    return EscalationDetailPublic.of_history(esc, messages, events)


@router.post(
    "/{escalation_id}/messages",
    operation_id="addEscalationMessage",
    summary="Add a message from the customer's side",
    status_code=201,
    response_model=MessagePublic,
    response_description="The stored message.",
    responses={
        200: {
            "model": MessagePublic,
            "description": "A repeated `external_id`: the message stored the first time.",
        },
        **errors_of(404, 409, meanings={409: ENDED}),
    },
)
async def add_message(
    escalation_id: EscalationId,
    body: CustomerMessage,
    svc: ServicesDep,
    owner: PlatformDep,
    response: Response,
) -> MessagePublic:
    """A message the customer (or the bot, or the platform) sent while the conversation is
    with the team: stored, posted in the card's thread, its files uploaded there. Answers
    **201** with it; a repeated `external_id` answers **200** with the original and posts
    nothing twice. **409** `invalid_transition` once the escalation is returned or closed."""
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
    "/{escalation_id}/take",
    operation_id="takeEscalation",
    summary="Take an escalation for an agent",
    response_model=EscalationPublic,
    response_description="The escalation, taken.",
    responses=errors_of(
        404,
        409,
        503,
        meanings={
            409: "`conflict`: another agent has it (`details.owner` names them); "
            "`invalid_transition`: it is returned or closed.",
        },
    ),
)
async def take(
    escalation_id: EscalationId, body: AgentAction, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """The agent becomes the owner, as if they had pressed **Take** on the card: the card
    shows them, and the platform gets `escalation.taken` with a `customer_message`
    introducing them. Taking one the agent owns already changes nothing. Of two agents
    taking it at once, one wins; the other gets **409** `conflict` naming the owner.
    **409** `invalid_transition` once it is returned or closed; **422** if `agent` names
    no agent; **503** if Slack cannot be asked who it is."""
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).take(escalation_id, agent)
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/reply",
    operation_id="replyToEscalation",
    summary="Reply to the customer as the owner",
    status_code=201,
    response_model=MessagePublic,
    response_description="The stored reply.",
    responses=errors_of(
        403, 404, 409, 503, meanings={409: "`invalid_transition`: the escalation is not taken."}
    ),
)
async def reply(
    escalation_id: EscalationId, body: Reply, svc: ServicesDep, owner: PlatformDep
) -> MessagePublic:
    """The owner's reply: posted in the card's thread and sent to the platform as
    `escalation.message`, for the customer. Answers **201** with it. **403** `forbidden` if
    `agent` is not the owner; **409** `invalid_transition` unless the escalation is taken;
    **422** if `agent` names no agent."""
    agent = await resolve_agent(svc, body.agent, "agent")
    attachments = [a.model_dump(mode="json") for a in body.attachments]
    machine = svc.machine.for_platform(owner.platform_id)
    _, msg = await machine.reply(escalation_id, agent, body.content, attachments)
    return MessagePublic.of(msg)


@router.post(
    "/{escalation_id}/notes",
    operation_id="addEscalationNote",
    summary="Add an internal note",
    status_code=201,
    response_model=EventPublic,
    response_description="The note, as its entry in the audit trail.",
    responses=errors_of(404, 503),
)
async def add_note(
    escalation_id: EscalationId, body: Note, svc: ServicesDep, owner: PlatformDep
) -> EventPublic:
    """A note for the team, whatever the escalation's status: posted in the card's thread
    and kept in the audit trail, never sent to the customer. Answers **201** with its
    audit-trail entry. **422** if `agent` names no agent."""
    agent = await resolve_agent(svc, body.agent, "agent")
    event = await svc.machine.for_platform(owner.platform_id).add_note(
        escalation_id, agent, body.content
    )
    return EventPublic.of(event)


@router.post(
    "/{escalation_id}/return",
    operation_id="returnEscalationToBot",
    summary="Return the conversation to the bot",
    response_model=EscalationPublic,
    response_description="The escalation, returned.",
    responses=errors_of(403, 404, 409, 503, meanings={409: ENDED}),
)
async def return_to_bot(
    escalation_id: EscalationId, body: AgentAction, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """Ends the escalation: the platform gets `escalation.returned`, shows the customer its
    `customer_message` and resumes its AI. Anyone may return a queued escalation (a lead
    deciding the bot can handle it); a taken one only its owner (**403** `forbidden` for
    anyone else). **409** `invalid_transition` once it is returned or closed."""
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).return_to_bot(escalation_id, agent)
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/close",
    operation_id="closeEscalation",
    summary="Close an escalation",
    response_model=EscalationPublic,
    response_description="The escalation, closed.",
    responses=errors_of(403, 404, 409, 503, meanings={409: ENDED}),
)
async def close(
    escalation_id: EscalationId, body: Close, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """Ends the escalation with a resolution: the platform gets `escalation.closed` (with
    `resolution`, `note` and `keep_ai_paused`) and resumes its AI unless `keep_ai_paused`.
    Anyone may close a queued escalation; a taken one only its owner (**403** `forbidden`
    for anyone else). **409** `invalid_transition` once it is returned or closed."""
    agent = await resolve_agent(svc, body.agent, "agent")
    esc = await svc.machine.for_platform(owner.platform_id).close(
        escalation_id,
        agent,
        body.resolution,
        note=body.note,
        keep_ai_paused=body.keep_ai_paused,
    )
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/suggestions",
    operation_id="suggestEscalationReply",
    summary="Suggest a reply: posted in the card's thread for the owner to send",
    status_code=201,
    response_model=SuggestionPublic,
    response_description="The suggestion, not sent yet.",
    responses=errors_of(404, 409, 503, meanings={409: ENDED}),
)
async def suggest(
    escalation_id: EscalationId, body: SuggestionBody, svc: ServicesDep, owner: PlatformDep
) -> SuggestionPublic:
    """The bot's draft of a reply. The owner sends it with **Send**, or edits it first
    (**Edit and send**); it reaches the customer as their reply (`escalation.message` with
    `message.suggestion_id`). Answers **201** with it. **409** `invalid_transition` unless
    the escalation is queued or taken."""
    machine = svc.machine.for_platform(owner.platform_id)
    sug = await machine.suggest(escalation_id, body.content, body.markdown, platform_actor(owner))
    return SuggestionPublic.of(sug)


@router.post(
    "/{escalation_id}/rating",
    operation_id="rateEscalation",
    summary="Record the customer's rating of a returned or closed escalation",
    response_model=EscalationPublic,
    response_description="The escalation, with its `rating`.",
    responses=errors_of(
        404,
        409,
        503,
        meanings={409: "`invalid_transition`: the escalation is still queued or taken."},
    ),
)
async def rate(
    escalation_id: EscalationId, body: Rating, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """The rating is shown in the card's thread. A later rating replaces an earlier one (the
    audit trail keeps both). **409** `invalid_transition` while the escalation is queued or
    taken."""
    machine = svc.machine.for_platform(owner.platform_id)
    esc = await machine.rate(escalation_id, body.score, body.comment, platform_actor(owner))
    return EscalationPublic.of(esc)


@router.post(
    "/{escalation_id}/resume_ai",
    operation_id="resumeEscalationAi",
    summary="Resume the AI of an escalation closed with the AI kept paused",
    response_model=EscalationPublic,
    response_description="The escalation, with `ai_resumed_at` set.",
    responses=errors_of(
        404,
        409,
        503,
        body=False,
        meanings={
            409: "`invalid_transition`: it is not closed with `keep_ai_paused`, or its AI "
            "was resumed already."
        },
    ),
)
async def resume_ai(
    escalation_id: EscalationId, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """Sends `escalation.ai_resumed` once; a second call, or an escalation that is not
    closed with `keep_ai_paused`, answers **409** `invalid_transition`."""
    machine = svc.machine.for_platform(owner.platform_id)
    esc = await machine.resume_ai(escalation_id, platform_actor(owner))
    return EscalationPublic.of(esc)


@router.patch(
    "/{escalation_id}",
    operation_id="updateEscalation",
    summary="Change an escalation's priority or owner, or add a note",
    response_model=EscalationPublic,
    response_description="The escalation as it now is.",
    responses=errors_of(
        404,
        409,
        503,
        meanings={
            409: "`invalid_transition`: a change of priority or owner once the escalation "
            "is returned or closed."
        },
    ),
)
async def update(
    escalation_id: EscalationId, body: Patch, svc: ServicesDep, owner: PlatformDep
) -> EscalationPublic:
    """Only the fields given change, all or nothing. `assignee` takes a queued escalation
    for that agent, or reassigns a taken one (the platform gets `escalation.taken` with
    the new agent); `null` unassigns it, back to queued. A new `priority` moves its SLA
    targets. A `note` is added whatever the status; a change of priority or owner on a
    returned or closed escalation answers **409** `invalid_transition`. **422** if
    `assignee` names no agent, or for `priority: null`."""
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
