"""Every transition of an escalation, each one database transaction.

The rules of each move (from which statuses, to which, what it writes) are declared in
``storage.transitions``; this module applies them. A move is a conditional UPDATE: no row
means the move is not allowed now or somebody else got there first, and the row is then
read once to say which, as a typed error. In the same transaction go the audit event and
the outbox rows for the side effects. Slack and the REST API both call these methods;
the API through ``Machine.for_platform``, which finds only that platform's escalations.
"""

import copy
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ColumnElement, case, func, insert, literal, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from storage import attachments, auto_close
from storage.attachments import SlackFile
from storage.database import Database
from storage.errors import AlreadySent, Conflict, InvalidTransition, NotFound
from storage.file_links import FileLinks
from storage.group_commit import GroupCommit
from storage.idempotency import IdempotencyClaim, store_response
from storage.ids import new_id
from storage.models import (
    ACTIVE_PREDICATE,
    ACTIVE_STATUSES,
    Escalation,
    Event,
    FileAttachment,
    Message,
    Priority,
    Reason,
    Resolution,
    Role,
    Status,
    Suggestion,
)
from storage.notifications import Notices
from storage.outbox.rows import SlackEffect, slack_row
from storage.platforms import PlatformNames
from storage.public import PersonPublic, RelayedMessagePublic, escalation_public, iso
from storage.sla import SlaPolicy, Target
from storage.threads import message_by_slack_ts
from storage.transitions import (
    AUTO_CLOSE,
    CHANGE_PRIORITY,
    CLOSE,
    CREATE,
    CUSTOMER_MESSAGE,
    DELETE_REPLY,
    EDIT_REPLY,
    HOLD,
    NOTE,
    RATE,
    REASSIGN,
    REPLY,
    RESUME_AI,
    RETURN,
    SUGGEST,
    TAKE,
    UNASSIGN,
    Effects,
    Rows,
    Transition,
    claim,
    record,
    record_all,
    rows_of,
)
from storage.transitions import Actor as Actor  # re-exported: callers take it from here
from storage.types import UTCDateTime

PREVIEW_CHARS = 280
DEFAULT_WAIT_MINUTES = 5
_WAIT_CACHE_SECONDS = 60.0


class CustomerTexts(Protocol):
    """Renders the customer-facing texts (created, taken, returned, closed)."""

    def render(
        self, kind: str, *, platform: str, locale: str | None, variables: dict[str, Any]
    ) -> str: ...


@dataclass
class NewMessage:
    role: Role
    content: str
    sent_at: datetime | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    external_id: str | None = None


@dataclass
class NewEscalation:
    conversation_id: str
    customer: dict[str, Any]
    reason: Reason
    priority: Priority = Priority.medium
    channel: str | None = None
    reason_detail: str | None = None
    summary: str | None = None
    confidence: int | None = None
    transcript: list[NewMessage] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    assign_to: Actor | None = None


class Via(StrEnum):
    """Where a move came from, as metrics count it."""

    slack = "slack"
    api = "api"
    baton = "baton"  # a timed job (auto-close)


MoveCounter = Callable[[str, Via], None]  # (the move's audit event type, where it came from)


@dataclass(frozen=True)
class Unset:
    """Marks a PATCH field that was not given (as opposed to given as null)."""


UNSET = Unset()


class SlackChange(StrEnum):
    """What became of an edit or a deletion in Slack of one of the owner's messages."""

    RELAYED = "relayed"  # the customer gets the change
    TOO_LATE = "too_late"  # the customer keeps the original (past the window, or not theirs now)
    NOT_SENT = "not_sent"  # the message never went to the customer


DEFAULT_EDIT_WINDOW = timedelta(minutes=15)


class Machine:
    """The moves of escalations. As built it finds any escalation (Slack serves every
    platform); ``for_platform`` gives the same machine as one platform sees it."""

    def __init__(
        self,
        db: Database,
        texts: CustomerTexts,
        sla: SlaPolicy | None = None,
        *,
        edit_window: timedelta = DEFAULT_EDIT_WINDOW,
        file_links: FileLinks | None = None,
        notices: Notices | None = None,
        moves: MoveCounter | None = None,
    ) -> None:
        """``file_links`` make the customer's links to agents' files; without them an
        agent's file cannot be relayed. ``notices``: the [[notifications]] subscribers.
        ``moves`` is told of every move once its transaction commits (for metrics)."""
        self.db = db
        self.texts = texts
        self.sla = sla or SlaPolicy()
        self.edit_window = edit_window
        self.file_links = file_links
        self.notices = notices if notices is not None else Notices(db)
        self.moves = moves
        self._scope: str | None = None
        self._via = Via.slack  # who moves through this machine; see ``for_platform``
        self._platform_names = PlatformNames(db)
        self._wait_cache: dict[str, tuple[float, int]] = {}
        self._creations = GroupCommit(db, self._insert_drafts)

    def for_platform(self, platform_id: str) -> "Machine":
        """This machine as a platform's API key sees it: only that platform's escalations
        are found (another's answer NotFound). Caches and writers stay shared."""
        scoped = self._acting(Via.api)
        scoped._scope = platform_id
        return scoped

    def _acting(self, via: "Via") -> "Machine":
        """This machine, its moves counted as made through ``via``."""
        acting = copy.copy(self)
        acting._via = via
        return acting

    # ----------------------------------------------------------------- creation

    async def create(
        self, platform_id: str, new: NewEscalation, *, idempotency: IdempotencyClaim | None = None
    ) -> tuple[Escalation, bool]:
        """Open an escalation, or return the conversation's active one (``created`` False)."""
        draft = await self._draft(platform_id, new, idempotency)
        return await self._creations.submit(draft)

    async def _draft(
        self, platform_id: str, new: NewEscalation, idempotency: IdempotencyClaim | None
    ) -> "_Draft":
        """Every row of a new escalation, prepared before the transaction so it stays short
        (on SQLite, writers queue behind it)."""
        wait_minutes = await self._expected_wait_minutes(platform_id)
        now = self.db.clock.now()
        values = _escalation_values(new_id("esc"), platform_id, new, now)
        messages = [_message_values(values["id"], m, now) for m in new.transcript]
        if messages:
            values["last_message_at"] = messages[-1]["sent_at"]
            values["last_message_preview"] = _preview(messages[-1]["content"])
        esc = Escalation(**values)
        for column, value in self._sla_columns(esc).items():
            values[column] = value
            setattr(esc, column, value)
        customer_message = await self._customer_text(CREATE, esc, wait_minutes=wait_minutes)
        effects = CREATE.effects(
            {"priority": str(esc.priority)},
            platform_data={"customer_message": customer_message},
            subscribers=await self.notices.matching(esc, CREATE.notify),
        )
        created = rows_of(esc, now, effects)
        files, uploads = attachments.uploads(
            esc.id,
            platform_id,
            ((m["id"], m["attachments"]) for m in messages),
            now,
            most=attachments.UPLOADS_PER_CREATE,
        )
        created = Rows(created.event, [*created.outbox, *uploads])  # after the card's post
        return _Draft(now, esc, values, messages, files, created, new.assign_to, idempotency)

    async def _insert_drafts(
        self, s: AsyncSession, drafts: list["_Draft"]
    ) -> list[tuple[Escalation, bool]]:
        """Write a batch of new escalations with one statement per table."""
        inserted = set(
            (await s.execute(self._insert_ignoring_active_duplicate([d.values for d in drafts])))
            .scalars()
            .all()
        )
        fresh = [d for d in drafts if d.values["id"] in inserted]
        messages = [m for d in fresh for m in d.messages]
        if messages:
            await s.execute(insert(Message), messages)
        files = [f for d in fresh for f in d.files]
        if files:
            await s.execute(insert(FileAttachment), files)
        await record_all(s, [d.rows for d in fresh])
        self._count_on_commit(s, [d.rows.event.type for d in fresh], via=Via.api)
        results = []
        for draft in drafts:
            result = (
                (draft.escalation, True)
                if draft.values["id"] in inserted
                else await self._existing_or_insert(s, draft)
            )
            results.append(await self._finish(s, draft, *result))
        return results

    async def _existing_or_insert(
        self, s: AsyncSession, draft: "_Draft"
    ) -> tuple[Escalation, bool]:
        """The conversation already has an active escalation (unless it ended meanwhile)."""
        values = draft.values
        existing = await self._active_for_conversation(
            s, values["platform_id"], values["conversation_id"]
        )
        if existing is not None:
            return existing, False
        (result,) = await self._insert_drafts(s, [replace(draft, assign_to=None, idempotency=None)])
        return result

    async def _finish(
        self, s: AsyncSession, draft: "_Draft", esc: Escalation, created: bool
    ) -> tuple[Escalation, bool]:
        if created and draft.assign_to is not None:
            # The card is not posted yet: its first post shows the owner.
            taking = _Taking(TAKE, draft.assign_to, draft.now, card_posted=False)
            esc = await self._take_held(s, esc.id, taking)
        if draft.idempotency is not None:
            body = escalation_public(esc)
            await store_response(s, draft.idempotency, 201 if created else 200, body)
        return esc, created

    def _insert_ignoring_active_duplicate(self, rows: list[dict[str, Any]]) -> Any:
        table = Escalation.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
        return (
            self.db.insert(table)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=["platform_id", "conversation_id"],
                # Literal, like the index's own predicate: PostgreSQL matches the partial
                # index only if it can prove this condition implies the index's.
                index_where=text(ACTIVE_PREDICATE),
            )
            .returning(table.c.id)
        )

    # ------------------------------------------------------------ transitions

    async def take(self, esc_id: str, agent: Actor) -> Escalation:
        async with self.db.write() as s:
            return await self._take(s, esc_id, agent)

    async def _take(self, s: AsyncSession, esc_id: str, agent: Actor) -> Escalation:
        now = self.db.clock.now()
        esc = await self._claim(s, TAKE, esc_id, _taken_values(agent, now))
        if esc is None:
            current = await self._load(s, esc_id)
            if current.status == Status.taken:
                if current.assignee_id == agent.id:
                    return current  # taking what you already own changes nothing
                raise Conflict(esc_id, current.assignee_id or "", current.assignee_name or "")
            raise TAKE.refusal(esc_id, current)
        return await self._after_take(s, esc, _Taking(TAKE, agent, now))

    async def _take_held(self, s: AsyncSession, esc_id: str, taking: "_Taking") -> Escalation:
        """Take an escalation this transaction already holds, known to be queued (just
        created, or locked for a PATCH)."""
        taken = await self._claim(s, TAKE, esc_id, _taken_values(taking.agent, taking.now))
        assert taken is not None, "the row is held by this transaction"
        return await self._after_take(s, taken, taking)

    async def _after_take(self, s: AsyncSession, esc: Escalation, taking: "_Taking") -> Escalation:
        esc = await self._refresh_sla(s, esc)
        agent = taking.agent.as_dict()
        text = await self._customer_text(taking.move, esc, agent=agent)
        effects = taking.move.effects(
            taking.data if taking.data is not None else {"agent": agent},
            actor=taking.agent,
            platform_data={"agent": agent, "customer_message": text},
            without=() if taking.card_posted else (SlackEffect.CARD_UPDATE,),
            subscribers=await self.notices.matching(esc, taking.move.notify),
        )
        self._record(s, esc, taking.now, effects)
        return esc

    async def reply(
        self,
        esc_id: str,
        agent: Actor,
        content: str,
        attachments: Sequence[dict[str, Any]] = (),
        *,
        from_slack_ts: str | None = None,
        markdown: str | None = None,
        files: Sequence[SlackFile] = (),
    ) -> tuple[Escalation, Message]:
        """The owner's words to the customer: ``content`` as plain text, ``markdown`` the
        same with its formatting (the content itself when not given). From Slack they are
        in the thread already, and a Slack message (by its ts) is relayed once however
        often it arrives; its ``files`` go to the customer as links to Baton."""
        markdown = content if markdown is None else markdown
        said = _Said(content, markdown, tuple(attachments), from_slack_ts, tuple(files))
        try:
            async with self.db.write() as s:
                return await self._reply(s, esc_id, agent, said)
        except _Duplicate as dup:
            async with self.db.read() as s:
                return await self._load(s, esc_id), dup.original

    async def _reply(
        self, s: AsyncSession, esc_id: str, agent: Actor, said: "_Said"
    ) -> tuple[Escalation, Message]:
        now = self.db.clock.now()
        values = {
            "first_reply_at": func.coalesce(col(Escalation.first_reply_at), _at(now)),
            "awaiting_owner_since": None,
            "last_message_at": now,
            "last_message_preview": _preview(said.content or said.file_names()),
        }
        esc = await self._claim(s, REPLY, esc_id, values, by=agent)
        if esc is None:
            raise REPLY.refusal(esc_id, await self._load(s, esc_id))
        if said.slack_ts is not None:
            # The row lock taken by the update orders a racing retry of the same message.
            original = await message_by_slack_ts(s, esc_id, said.slack_ts)
            if original is not None:
                s.expunge(original)
                raise _Duplicate(original)
        msg_id = new_id("msg")
        files = [attachments.to_customer(esc.id, msg_id, f, now) for f in said.files]
        msg = Message(
            id=msg_id,
            escalation_id=esc.id,
            role=Role.agent,
            content=said.content,
            attachments=[*said.attachments, *(_described(f) for f in files)],
            author_id=agent.id,
            author_name=agent.name,
            slack_ts=said.slack_ts,
            sent_at=now,
            created_at=now,
        )
        s.add(msg)
        s.add_all(files)
        message = RelayedMessagePublic(
            id=msg.id,
            content=said.content,
            markdown=said.markdown,
            attachments=self._linked(msg.attachments),
            agent=PersonPublic(id=agent.id, name=agent.name),
            sent_at=iso(now),
            suggestion_id=said.suggestion_id,
        ).as_event_data()
        effects = REPLY.effects(
            {"message_id": msg.id},
            actor=agent,
            platform_data={"message": message},
            message_id=msg.id,
            # A reply written in Slack is in the thread already.
            without=() if said.slack_ts is None else (SlackEffect.THREAD_MESSAGE,),
        )
        self._record(s, esc, now, effects)
        return esc, msg

    async def hold_slack_message(
        self,
        esc_id: str,
        author: Actor,
        content: str,
        slack_ts: str,
        markdown: str | None = None,
        files: Sequence[SlackFile] = (),
    ) -> Event:
        """Someone wrote in the thread of an escalation nobody owns: keep the message until
        they choose to take the escalation and send it, or to keep it as a note."""
        data = {
            "content": content,
            "markdown": content if markdown is None else markdown,
            "slack_ts": slack_ts,
            **({"files": [asdict(f) for f in files]} if files else {}),
        }
        async with self.db.write() as s:
            esc = await self._load(s, esc_id)
            return self._record(s, esc, self.db.clock.now(), HOLD.effects(data, actor=author))

    async def take_and_send(
        self, esc_id: str, agent: Actor, held_event_id: str
    ) -> tuple[Escalation, Message]:
        """Take the escalation and relay the message held for it, all or nothing."""
        try:
            async with self.db.write() as s:
                held = await self._held(s, esc_id, held_event_id, agent)
                await self._take(s, esc_id, agent)
                content = held.data["content"]
                markdown = held.data.get("markdown", content)
                files = tuple(SlackFile(**f) for f in held.data.get("files", ()))
                said = _Said(content, markdown, (), held.data["slack_ts"], files)
                return await self._reply(s, esc_id, agent, said)
        except _Duplicate as dup:
            async with self.db.read() as s:
                return await self._load(s, esc_id), dup.original

    async def keep_as_note(self, esc_id: str, author: Actor, held_event_id: str) -> Event:
        async with self.db.write() as s:
            held = await self._held(s, esc_id, held_event_id, author)
            esc = await self._load(s, esc_id)
            now = self.db.clock.now()
            content = held.data["content"]
            if not content.strip():  # files alone: the note says which
                names = ", ".join(f["name"] for f in held.data.get("files", ()))
                content = f"Shared in the thread: {names}"
            return self._note(s, esc, author, content, now, from_slack=True)

    def _linked(self, kept: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """A message's attachments as the customer's side gets them: its agent's files
        (``att_…``) with Baton's links to them, made now."""
        linked = []
        for attachment in kept:
            if str(attachment.get("id", "")).startswith("att_"):
                if self.file_links is None:
                    raise RuntimeError("an agent's file cannot be relayed: no file links")
                attachment = {**attachment, "url": self.file_links.url(attachment["id"])}
            linked.append(attachment)
        return linked

    # ------------------------------------------------------ edits and deletes in Slack

    async def edit_slack_reply(
        self, esc_id: str, author: Actor, slack_ts: str, content: str, markdown: str
    ) -> SlackChange:
        """Its owner edited in Slack a message the customer has. Within the edit window the
        customer gets the new words (under the same message id); after it, or once the
        escalation is no longer theirs, the customer keeps the original."""
        async with self.db.write() as s:
            found = await self._changeable(s, esc_id, author, slack_ts)
            if isinstance(found, SlackChange):
                return found
            esc, msg = found
            now = self.db.clock.now()
            data = {"message_id": msg.id, "content": content, "previous": msg.content}
            message = RelayedMessagePublic(
                id=msg.id,
                content=content,
                markdown=markdown,
                attachments=self._linked(msg.attachments),
                agent=PersonPublic(id=author.id, name=author.name),
                sent_at=iso(msg.sent_at),
                edited_at=iso(now),
            ).as_event_data()
            effects = EDIT_REPLY.effects(data, actor=author, platform_data={"message": message})
            self._record(s, esc, now, effects)
            msg.content = content
            return SlackChange.RELAYED

    async def delete_slack_reply(self, esc_id: str, author: Actor, slack_ts: str) -> SlackChange:
        """Its owner deleted in Slack a message the customer has: within the edit window the
        customer's copy is withdrawn too (the audit trail keeps its words); after it the
        customer keeps it."""
        async with self.db.write() as s:
            found = await self._changeable(s, esc_id, author, slack_ts)
            if isinstance(found, SlackChange):
                return found
            esc, msg = found
            effects = DELETE_REPLY.effects(
                {"message_id": msg.id, "content": msg.content},
                actor=author,
                platform_data={"message_id": msg.id},
            )
            self._record(s, esc, self.db.clock.now(), effects)
            await s.delete(msg)
            return SlackChange.RELAYED

    async def _changeable(
        self, s: AsyncSession, esc_id: str, author: Actor, slack_ts: str
    ) -> tuple[Escalation, Message] | SlackChange:
        """The escalation (locked, so a change never overtakes a reply) and the message the
        author may still change for the customer, or why not."""
        esc = await self._load(s, esc_id, lock=True)
        msg = await message_by_slack_ts(s, esc_id, slack_ts)
        if msg is None or msg.role != Role.agent:
            return SlackChange.NOT_SENT
        in_time = self.db.clock.now() - msg.sent_at <= self.edit_window
        theirs = (
            msg.author_id == author.id
            and EDIT_REPLY.allows(esc.status)  # the same rule for deleting
            and esc.assignee_id == author.id
        )
        return (esc, msg) if in_time and theirs else SlackChange.TOO_LATE

    async def _held(self, s: AsyncSession, esc_id: str, held_event_id: str, author: Actor) -> Event:
        held = await s.get(Event, held_event_id)
        if (
            held is None
            or held.escalation_id != esc_id
            or held.type != HOLD.event
            or held.actor_id != author.id
        ):
            raise NotFound("held message", held_event_id)
        return held

    async def add_note(
        self, esc_id: str, author: Actor, content: str, *, from_slack: bool = False
    ) -> Event:
        """An internal note: kept in the audit trail and the thread, never sent to the customer."""
        async with self.db.write() as s:
            esc = await self._load(s, esc_id)
            return self._note(s, esc, author, content, self.db.clock.now(), from_slack=from_slack)

    def _note(
        self,
        s: AsyncSession,
        esc: Escalation,
        author: Actor,
        content: str,
        now: datetime,
        *,
        from_slack: bool,
    ) -> Event:
        # A note written in Slack is in the thread already.
        without = (SlackEffect.THREAD_NOTE,) if from_slack else ()
        return self._record(
            s, esc, now, NOTE.effects({"content": content}, actor=author, without=without)
        )

    async def add_customer_message(self, esc_id: str, new: NewMessage) -> tuple[Message, bool]:
        """A message from the customer's side; a repeated ``external_id`` returns the original."""
        if new.external_id is not None:
            async with self.db.read() as s:
                await self._load(s, esc_id)
                original = await _message_by_external_id(s, esc_id, new.external_id)
                if original is not None:
                    return original, False
        try:
            async with self.db.write() as s:
                return await self._add_customer_message(s, esc_id, new), True
        except _Duplicate as dup:
            return dup.original, False

    async def _add_customer_message(self, s: AsyncSession, esc_id: str, new: NewMessage) -> Message:
        now = self.db.clock.now()
        values = {
            "last_message_at": new.sent_at or now,
            "last_message_preview": _preview(new.content),
            **_awaiting_owner_after(new.role, now),
            **({"customer_wrote_at": now} if new.role == Role.customer else {}),
        }
        esc = await self._claim(s, CUSTOMER_MESSAGE, esc_id, values)
        if esc is None:
            raise CUSTOMER_MESSAGE.refusal(esc_id, await self._load(s, esc_id))
        if new.external_id is not None:
            # The row lock taken by the update orders racing duplicates; look again.
            original = await _message_by_external_id(s, esc_id, new.external_id)
            if original is not None:
                s.expunge(original)  # keep it loaded through the rollback
                raise _Duplicate(original)
        msg = _message_row(esc.id, new, now)
        s.add(msg)
        data = {"message_id": msg.id, "role": str(new.role)}
        self._record(s, esc, now, CUSTOMER_MESSAGE.effects(data, message_id=msg.id))
        files, uploads = attachments.uploads(
            esc.id, esc.platform_id, [(msg.id, msg.attachments)], now
        )
        s.add_all(FileAttachment(**f) for f in files)
        s.add_all(uploads)  # after the message's own post in the thread
        return msg

    async def return_to_bot(self, esc_id: str, agent: Actor) -> Escalation:
        return await self._end(_Ending(RETURN, esc_id, agent))

    async def close(
        self,
        esc_id: str,
        agent: Actor,
        resolution: Resolution,
        *,
        note: str | None = None,
        keep_ai_paused: bool = False,
    ) -> Escalation:
        ending = _Ending(
            CLOSE,
            esc_id,
            agent,
            columns={
                "resolution": resolution,
                "close_note": note,
                "keep_ai_paused": keep_ai_paused,
            },
            details={"resolution": str(resolution), "note": note, "keep_ai_paused": keep_ai_paused},
            text_variables={"resolution": str(resolution)},
        )
        return await self._end(ending)

    async def close_quiet(self, quiet_for: timedelta) -> list[Escalation]:
        """Close, with resolution ``no_response``, the taken escalations whose customer has
        written nothing for ``quiet_for`` since they were taken; each once, whichever
        replica's sweep claims it (the quiet is checked again in the claim)."""
        closed = []
        for esc in await auto_close.quiet(self.db, quiet_for):
            ending = _Ending(
                AUTO_CLOSE,
                esc.id,
                auto_close.BATON,
                columns={"resolution": Resolution.no_response, "keep_ai_paused": False},
                details={"resolution": "no_response", "note": None, "keep_ai_paused": False},
                audit={
                    "owner": {"id": esc.assignee_id, "name": esc.assignee_name},
                    "quiet_seconds": round(quiet_for.total_seconds()),
                },
                text_variables={"resolution": str(Resolution.no_response)},
                where=auto_close.still_quiet(self.db.clock.now() - quiet_for),
            )
            try:
                closed.append(await self._acting(Via.baton)._end(ending))
            except InvalidTransition:
                continue  # the customer wrote, or someone closed it, meanwhile
        return closed

    async def suggest(
        self, esc_id: str, content: str, markdown: str | None, by: Actor
    ) -> Suggestion:
        """The bot's draft of a reply, posted in the thread for the owner to send."""
        async with self.db.write() as s:
            esc = await self._load(s, esc_id, lock=True)
            if not SUGGEST.allows(esc.status):
                raise SUGGEST.refusal(esc_id, esc)
            now = self.db.clock.now()
            sug = Suggestion(
                id=new_id("sug"),
                escalation_id=esc.id,
                content=content,
                markdown=content if markdown is None else markdown,
                created_at=now,
            )
            s.add(sug)
            self._record(s, esc, now, SUGGEST.effects({"suggestion_id": sug.id}, actor=by))
            return sug

    async def send_suggestion(
        self, sug_id: str, agent: Actor, edited: str | None = None
    ) -> tuple[Escalation, Message]:
        """Send a suggestion as the owner's reply (``edited``: their words instead), once:
        of two clicks, one sends it and the other hears it was sent. Refused like any reply
        (not the owner, ended), it stays unsent."""
        async with self.db.write() as s:
            sug = await s.get(Suggestion, sug_id)
            if sug is None:
                raise NotFound("suggestion", sug_id)
            now = self.db.clock.now()
            claimed = await s.execute(
                update(Suggestion)
                .where(col(Suggestion.id) == sug_id, col(Suggestion.sent_at).is_(None))
                .values(sent_at=now, sent_by=agent.as_dict())
            )
            if claimed.rowcount == 0:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                await s.refresh(sug)
                raise AlreadySent(sug_id, (sug.sent_by or {}).get("name"))
            content = sug.content if edited is None else edited
            markdown = sug.markdown if edited is None else edited
            said = _Said(content, markdown, suggestion_id=sug_id)
            esc, msg = await self._reply(s, sug.escalation_id, agent, said)
            await s.execute(
                update(Suggestion).where(col(Suggestion.id) == sug_id).values(message_id=msg.id)
            )
            s.add(slack_row(esc, SlackEffect.SUGGESTION, now, suggestion_id=sug_id))
            return esc, msg

    async def rate(self, esc_id: str, score: int, comment: str | None, by: Actor) -> Escalation:
        """The customer's rating of an ended escalation; a later one replaces it (the audit
        trail keeps both)."""
        async with self.db.write() as s:
            now = self.db.clock.now()
            values = {"rating_score": score, "rating_comment": comment, "rated_at": now}
            esc = await self._claim(s, RATE, esc_id, values)
            if esc is None:
                raise RATE.refusal(esc_id, await self._load(s, esc_id))
            self._record(s, esc, now, RATE.effects({"score": score, "comment": comment}, actor=by))
            return esc

    async def resume_ai(self, esc_id: str, by: Actor) -> Escalation:
        """Hand the conversation back to the AI of an escalation closed with the AI kept
        paused: once (``escalation.ai_resumed``); after that, or for any other escalation,
        ``InvalidTransition`` saying why."""
        async with self.db.write() as s:
            now = self.db.clock.now()
            values = {"ai_resumed_at": now, "ai_resumed_by": by.as_dict()}
            paused = (
                col(Escalation.keep_ai_paused).is_(True),
                col(Escalation.ai_resumed_at).is_(None),
            )
            esc = await self._claim(s, RESUME_AI, esc_id, values, where=paused)
            if esc is None:
                raise _not_resumable(esc_id, await self._load(s, esc_id))
            self._record(s, esc, now, RESUME_AI.effects({}, actor=by))
            return esc

    async def _end(self, ending: "_Ending") -> Escalation:
        """Queued escalations may be ended by anyone; taken ones only by their owner."""
        move, esc_id, agent = ending.move, ending.esc_id, ending.agent
        async with self.db.write() as s:
            now = self.db.clock.now()
            values = {
                **ending.columns,
                "ended_at": now,
                "ended_by": agent.as_dict(),
                "assignee_id": None,
                "assignee_name": None,
                "awaiting_owner_since": None,
            }
            esc = await self._claim(s, move, esc_id, values, by=agent, where=ending.where)
            if esc is None:
                raise move.refusal(esc_id, await self._load(s, esc_id))
            esc = await self._refresh_sla(s, esc)
            text = await self._customer_text(
                move, esc, agent=agent.as_dict(), **ending.text_variables
            )
            platform_data = {**ending.details, "customer_message": text}
            self._record(
                s,
                esc,
                now,
                move.effects(
                    {**ending.details, **ending.audit},
                    actor=agent,
                    platform_data=platform_data,
                    subscribers=await self.notices.matching(esc, move.notify),
                ),
            )
            return esc

    async def update(
        self,
        esc_id: str,
        by: Actor,
        *,
        priority: Priority | Unset = UNSET,
        assignee: Actor | Unset | None = UNSET,
        note: str | None = None,
    ) -> Escalation:
        """Change priority, owner and/or add a note, all or nothing."""
        async with self.db.write() as s:
            change = _Change(by, self.db.clock.now())
            esc = await self._load(s, esc_id, lock=True)
            if not isinstance(priority, Unset) and priority != esc.priority:
                esc = await self._set_priority(s, esc, change, priority)
            if not isinstance(assignee, Unset):
                esc = await self._assign(s, esc, change, assignee)
            if note:
                self._note(s, esc, by, note, change.now, from_slack=False)
            return esc

    async def _set_priority(
        self, s: AsyncSession, esc: Escalation, change: "_Change", priority: Priority
    ) -> Escalation:
        if not CHANGE_PRIORITY.allows(esc.status):
            raise CHANGE_PRIORITY.refusal(esc.id, esc)
        before = esc.priority
        updated = await self._claim(s, CHANGE_PRIORITY, esc.id, {"priority": priority})
        assert updated is not None, "the row is locked by this transaction"
        updated = await self._refresh_sla(s, updated)
        data = {"from": str(before), "to": str(priority)}
        self._record(s, updated, change.now, CHANGE_PRIORITY.effects(data, actor=change.by))
        return updated

    async def _assign(
        self, s: AsyncSession, esc: Escalation, change: "_Change", agent: Actor | None
    ) -> Escalation:
        if not (TAKE.allows(esc.status) or REASSIGN.allows(esc.status)):
            raise REASSIGN.refusal(esc.id, esc)
        if agent is None:
            return await self._unassign(s, esc, change)
        if TAKE.allows(esc.status):
            return await self._take_held(s, esc.id, _Taking(TAKE, agent, change.now))
        if esc.assignee_id == agent.id:
            return esc
        previous = {"id": esc.assignee_id, "name": esc.assignee_name}
        values = {
            "assignee_id": agent.id,
            "assignee_name": agent.name,
            "taken_at": change.now,
            "awaiting_owner_since": change.now,
        }
        updated = await self._claim(s, REASSIGN, esc.id, values)
        assert updated is not None, "the row is locked by this transaction"
        data = {"agent": agent.as_dict(), "previous": previous, "by": change.by.as_dict()}
        return await self._after_take(s, updated, _Taking(REASSIGN, agent, change.now, data))

    async def _unassign(self, s: AsyncSession, esc: Escalation, change: "_Change") -> Escalation:
        if not UNASSIGN.allows(esc.status):
            return esc  # nobody owns it
        previous = {"id": esc.assignee_id, "name": esc.assignee_name}
        values = {
            "assignee_id": None,
            "assignee_name": None,
            "taken_at": None,
            "awaiting_owner_since": None,
        }
        updated = await self._claim(s, UNASSIGN, esc.id, values)
        assert updated is not None, "the row is locked by this transaction"
        updated = await self._refresh_sla(s, updated)
        data = {"previous": previous}
        self._record(s, updated, change.now, UNASSIGN.effects(data, actor=change.by))
        return updated

    # ---------------------------------------------------------------------- SLA

    def _sla_columns(self, esc: Escalation) -> dict[str, Any]:
        """Due times from the escalation's start and priority, and when the next alert of a
        running clock falls due."""
        priority, start = str(esc.priority), esc.created_at
        return {
            "first_take_due_at": self.sla.due(priority, Target.first_take, start),
            "resolution_due_at": self.sla.due(priority, Target.resolution, start),
            "sla_check_at": self.sla.next_check(priority, start, esc.running_sla_levels()),
        }

    async def _refresh_sla(self, s: AsyncSession, esc: Escalation) -> Escalation:
        """Recompute the SLA columns after a change of status, owner or priority."""
        columns = self._sla_columns(esc)
        if all(getattr(esc, k) == v for k, v in columns.items()):
            return esc
        stmt = (
            update(Escalation)
            .where(col(Escalation.id) == esc.id)
            .values(**columns)
            .returning(Escalation)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await s.execute(stmt)).scalars().one()

    # ----------------------------------------------------------------- helpers

    def _record(self, s: AsyncSession, esc: Escalation, now: datetime, effects: Effects) -> Event:
        """Write a move's audit event and outbox rows; count the move once it commits."""
        written = record(s, esc, now, effects)
        self._count_on_commit(s, [effects.event])
        return written

    def _count_on_commit(
        self, s: AsyncSession, kinds: Sequence[str], via: "Via | None" = None
    ) -> None:
        if self.moves is None or not kinds:
            return
        moves, made_via = self.moves, via or self._via

        def committed(_: Session) -> None:
            for kind in kinds:
                moves(kind, made_via)

        sa_event.listen(s.sync_session, "after_commit", committed, once=True)

    async def _claim(
        self,
        s: AsyncSession,
        move: Transition,
        esc_id: str,
        values: Mapping[str, Any],
        *,
        by: Actor | None = None,
        where: Sequence[ColumnElement[bool]] = (),
    ) -> Escalation | None:
        """The move's conditional update, as a new version of the row."""
        bumped = {
            **values,
            "version": col(Escalation.version) + 1,
            "updated_at": self.db.clock.now(),
        }
        return await claim(s, move.claim(esc_id, bumped, by=by, where=where, scope=self._scope))

    async def _load(self, s: AsyncSession, esc_id: str, *, lock: bool = False) -> Escalation:
        stmt = select(Escalation).where(col(Escalation.id) == esc_id)
        if self._scope is not None:
            stmt = stmt.where(col(Escalation.platform_id) == self._scope)
        if lock:
            stmt = stmt.with_for_update()
        esc = (await s.execute(stmt.execution_options(populate_existing=True))).scalars().first()
        if esc is None:
            raise NotFound("escalation", esc_id)
        return esc

    async def _active_for_conversation(
        self, s: AsyncSession, platform_id: str, conversation_id: str
    ) -> Escalation | None:
        stmt = select(Escalation).where(
            col(Escalation.platform_id) == platform_id,
            col(Escalation.conversation_id) == conversation_id,
            col(Escalation.status).in_(ACTIVE_STATUSES),
        )
        return (await s.execute(stmt)).scalars().first()

    async def _customer_text(self, move: Transition, esc: Escalation, **variables: Any) -> str:
        """The customer-facing text of ``move``, in the customer's language."""
        assert move.customer_text is not None, f"{move.event} has no customer text"
        return self.texts.render(
            move.customer_text,
            platform=await self._platform_names.get(esc.platform_id),
            locale=_locale(esc),
            variables={"customer": esc.customer, **variables},
        )

    async def _expected_wait_minutes(self, platform_id: str) -> int:
        """The median wait to be taken over the platform's last 50 takes of the past day."""
        cached = self._wait_cache.get(platform_id)
        if cached is not None and time.monotonic() - cached[0] < _WAIT_CACHE_SECONDS:
            return cached[1]
        since = self.db.clock.now() - timedelta(days=1)
        async with self.db.read() as s:
            rows = (
                await s.execute(
                    select(col(Escalation.created_at), col(Escalation.first_taken_at))
                    .where(
                        col(Escalation.platform_id) == platform_id,
                        col(Escalation.first_taken_at).is_not(None),
                        col(Escalation.created_at) >= since,
                    )
                    .order_by(col(Escalation.created_at).desc())
                    .limit(50)
                )
            ).all()
        waits = [(taken - created).total_seconds() / 60 for created, taken in rows if taken]
        minutes = max(1, round(statistics.median(waits))) if waits else DEFAULT_WAIT_MINUTES
        self._wait_cache[platform_id] = (time.monotonic(), minutes)
        return minutes


@dataclass
class _Draft:
    now: datetime
    escalation: Escalation
    values: dict[str, Any]
    messages: list[dict[str, Any]]
    files: list[dict[str, Any]]  # the transcript's attachments to upload into the thread
    rows: Rows  # the created event and its outbox rows
    assign_to: Actor | None
    idempotency: IdempotencyClaim | None


@dataclass(frozen=True)
class _Said:
    """An agent's message as the customer gets it: plain, and as CommonMark; from Slack,
    the ts of the message in the thread."""

    content: str
    markdown: str
    attachments: tuple[dict[str, Any], ...] = ()
    slack_ts: str | None = None
    files: tuple[SlackFile, ...] = ()  # shared with the message in Slack
    suggestion_id: str | None = None  # the bot's suggested reply it sends

    def file_names(self) -> str:
        return ", ".join(f.name for f in self.files)


@dataclass(frozen=True)
class _Taking:
    """An owner's arrival: taken from the queue (TAKE), or handed over (REASSIGN)."""

    move: Transition
    agent: Actor
    now: datetime
    data: dict[str, Any] | None = None  # the audit event's, when more than the agent
    card_posted: bool = True  # False: the card's first post will show the owner


@dataclass(frozen=True)
class _Ending:
    """A return to the bot or a close, and what the ending row and its event keep."""

    move: Transition
    esc_id: str
    agent: Actor
    columns: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)  # the event's and the platform's
    text_variables: Mapping[str, Any] = field(default_factory=dict)
    audit: Mapping[str, Any] = field(default_factory=dict)  # the event's alone
    where: tuple[ColumnElement[bool], ...] = ()  # further conditions on the row


@dataclass(frozen=True)
class _Change:
    """Who changes an escalation through a PATCH, and when."""

    by: Actor
    now: datetime


class _Duplicate(Exception):
    def __init__(self, original: Message) -> None:
        self.original = original


def _at(when: datetime) -> Any:
    """A time inside an SQL expression, stored as the UTC columns store theirs."""
    return literal(when, UTCDateTime)


def _taken_values(agent: Actor, now: datetime) -> dict[str, Any]:
    return {
        "assignee_id": agent.id,
        "assignee_name": agent.name,
        "taken_at": now,
        "first_taken_at": func.coalesce(col(Escalation.first_taken_at), _at(now)),
        "awaiting_owner_since": now,  # the customer now waits on the owner's first words
    }


def _awaiting_owner_after(role: Role, now: datetime) -> dict[str, Any]:
    """A customer's message starts the owner's quiet clock, unless it already runs."""
    if role != Role.customer:
        return {}
    since = func.coalesce(col(Escalation.awaiting_owner_since), _at(now))
    waiting = case((col(Escalation.status) == Status.taken, since), else_=None)
    return {"awaiting_owner_since": waiting}


def _escalation_values(
    esc_id: str, platform_id: str, new: NewEscalation, now: datetime
) -> dict[str, Any]:
    return {
        "id": esc_id,
        "platform_id": platform_id,
        "conversation_id": new.conversation_id,
        "status": Status.queued.value,
        "priority": new.priority.value,
        "reason": new.reason.value,
        "reason_detail": new.reason_detail,
        "channel": new.channel,
        "customer": new.customer,
        "customer_id": new.customer.get("id"),
        "customer_name": new.customer.get("name"),
        "summary": new.summary,
        "confidence": new.confidence,
        "context": new.context,
        "created_at": now,
        "updated_at": now,
        "keep_ai_paused": False,
        "version": 1,
    }


def _message_values(esc_id: str, new: NewMessage, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "escalation_id": esc_id,
        "role": new.role.value,
        "content": new.content,
        "attachments": list(new.attachments),
        "external_id": new.external_id,
        "author_id": None,
        "author_name": None,
        "slack_ts": None,
        "sent_at": new.sent_at or now,
        "created_at": now,
    }


def _message_row(esc_id: str, new: NewMessage, now: datetime) -> Message:
    return Message(**_message_values(esc_id, new, now))


async def _message_by_external_id(s: AsyncSession, esc_id: str, external_id: str) -> Message | None:
    stmt = select(Message).where(
        col(Message.escalation_id) == esc_id, col(Message.external_id) == external_id
    )
    return (await s.execute(stmt)).scalars().first()


def _not_resumable(esc_id: str, esc: Escalation) -> InvalidTransition:
    """Why the AI of ``esc`` cannot be resumed: it is not closed, or the AI is not paused."""
    status = str(esc.status)
    if esc.status == Status.closed and esc.ai_resumed_at is not None:
        status = "closed, and its AI was resumed already"
    elif esc.status == Status.closed:
        status = "closed without keeping the AI paused"
    return InvalidTransition(esc_id, RESUME_AI.verb, status)


def _described(file: FileAttachment) -> dict[str, Any]:
    """An agent's file as its message keeps it (the link is made for each event)."""
    return {"id": file.id, "name": file.name, "mime_type": file.mime_type, "size": file.size}


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _locale(esc: Escalation) -> str | None:
    locale = esc.customer.get("locale") if isinstance(esc.customer, dict) else None
    return locale if isinstance(locale, str) and locale else None
