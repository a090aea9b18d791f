"""Stateful property test of ``storage.machine.Machine`` on SQLite and PostgreSQL.

Hypothesis drives one fresh escalation per example through random calls (take, reply, notes,
customer messages with repeated external ids, return, close, PATCH-style updates, creating
the same conversation again, calls scoped to another platform) while a model predicts each
outcome. Every call must succeed exactly when the model says it is legal, and otherwise
raise the typed error it predicts (``Conflict``, ``NotOwner``, ``InvalidTransition``,
``NotFound``) with the right details. After every step the rows are read back directly:
status and owner (an owner exactly while taken), priority, resolution, row version, the
audit events (in order), the messages, the Slack outbox rows (in order) and the platform
outbox rows, whose frozen ``data.escalation`` must show the status and owner right after
their transition.
"""

import asyncio
import copy
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from blocks.texts import CustomerTexts
from storage.database import Database
from storage.errors import Conflict, InvalidTransition, NotFound, NotOwner, StorageError
from storage.machine import UNSET, Actor, Machine, NewEscalation, NewMessage, Unset
from storage.models import (
    ACTIVE_STATUSES,
    Escalation,
    Event,
    Message,
    OutboxRow,
    Priority,
    Reason,
    Resolution,
    Role,
    Status,
    Topic,
)
from storage.platforms import add_platform
from storage.sealing import SecretBox
from tests.conftest import TEST_SECRET_KEY

T = TypeVar("T")

AGENTS = ("U1", "U2", "U3")
EXTERNAL_IDS = ("ext_a", "ext_b", "ext_c")
NOWHERE = "plt_somebody_else"  # a scope no escalation belongs to

PROPERTY_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

agents = st.sampled_from(AGENTS)
priorities = st.sampled_from(list(Priority))
notes = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=20))


def actor(agent_id: str) -> Actor:
    return Actor(agent_id, f"Agent {agent_id}")


class LoopThread:
    """One event loop running in a thread of its own, so sync code can await on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass(frozen=True)
class Sent:
    """A platform outbox row the model expects, with the escalation as it must show in it."""

    kind: str
    status: Status
    owner: str | None
    extra: tuple[tuple[str, Any], ...] = ()


@dataclass
class Expected:
    """What the rows of one escalation must hold."""

    esc_id: str
    conversation_id: str
    status: Status
    owner: str | None
    priority: Priority
    messages: int
    events: list[str] = field(default_factory=list)
    slack: list[str] = field(default_factory=list)
    platform: list[Sent] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)
    resolution: Resolution | None = None
    close_note: str | None = None
    keep_ai_paused: bool = False

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def wrote(
        self, event: str | None, slack: tuple[str, ...] = (), platform: Sent | None = None
    ) -> None:
        if event is not None:
            self.events.append(event)
        self.slack.extend(slack)
        if platform is not None:
            self.platform.append(platform)

    def sent(self, kind: str, *extra: tuple[str, Any]) -> Sent:
        return Sent(kind, self.status, self.owner, tuple(extra))

    def took(self, agent: str, event: str = "taken", card_update: bool = True) -> None:
        self.status, self.owner = Status.taken, agent
        slack = ("card.update",) if card_update else ()
        self.wrote(event, slack, self.sent("escalation.taken"))


@dataclass
class Snapshot:
    """The rows of one escalation, read back after a step."""

    escalation: Escalation
    events: list[Event]
    outbox: list[OutboxRow]
    messages: int
    external_ids: dict[str, str]


async def read_rows(db: Database, esc_id: str) -> Snapshot:
    async with db.read() as s:
        esc = (await s.execute(select(Escalation).where(Escalation.id == esc_id))).scalar_one()
        events = (
            (await s.execute(select(Event).where(Event.escalation_id == esc_id).order_by(Event.id)))
            .scalars()
            .all()
        )
        outbox = (
            (
                await s.execute(
                    select(OutboxRow)
                    .where(OutboxRow.escalation_id == esc_id)
                    .order_by(OutboxRow.id)
                )
            )
            .scalars()
            .all()
        )
        messages = (
            await s.execute(
                select(func.count()).select_from(Message).where(Message.escalation_id == esc_id)
            )
        ).scalar_one()
        external = (
            await s.execute(
                select(Message.external_id, Message.id).where(
                    Message.escalation_id == esc_id, Message.external_id.is_not(None)
                )
            )
        ).all()
    return Snapshot(
        esc, list(events), list(outbox), messages, {str(e): str(i) for e, i in external}
    )


class MachineRules(RuleBasedStateMachine):
    def __init__(self, loop: LoopThread, machine: Machine, platform_id: str) -> None:
        super().__init__()
        self.loop = loop
        self.machine = machine
        self.platform_id = platform_id
        self.current: Expected | None = None
        self.earlier: list[Expected] = []  # ended escalations of the same conversation
        self.ts = 0

    # ------------------------------------------------------------------ helpers

    @property
    def model(self) -> Expected:
        assert self.current is not None
        return self.current

    def call(self, coro: Coroutine[Any, Any, T]) -> T | StorageError:
        try:
            return self.loop.run(coro)
        except StorageError as exc:
            return exc

    def refused(self, outcome: object, error: type[StorageError]) -> StorageError:
        assert isinstance(outcome, error), f"expected {error.__name__}, got {outcome!r}"
        return outcome

    def accepted(self, outcome: T | StorageError) -> T:
        assert not isinstance(outcome, StorageError), f"refused unexpectedly: {outcome!r}"
        return outcome

    def seen_by(self, scoped: bool) -> Machine:
        """The machine as the escalation's platform sees it, or as Slack does."""
        return self.machine.for_platform(self.platform_id) if scoped else self.machine

    def new_escalation(self, conversation_id: str, priority: Priority, **kw: Any) -> NewEscalation:
        return NewEscalation(
            conversation_id=conversation_id,
            customer={"id": "cust_1", "name": "Nguyen Van A", "locale": "vi"},
            reason=Reason.gate_failure,
            priority=priority,
            channel="whatsapp",
            **kw,
        )

    def check_ended_or_refused(
        self, outcome: Escalation | StorageError, agent: str, status: Status, action: str
    ) -> bool:
        """Return and close share their rules; True when the model must record the end."""
        m = self.model
        if m.status == Status.queued or (m.status == Status.taken and m.owner == agent):
            esc = self.accepted(outcome)
            assert esc.status == status and esc.assignee_id is None
            return True
        if m.status == Status.taken:
            err = self.refused(outcome, NotOwner)
            assert isinstance(err, NotOwner) and err.owner_name == actor(m.owner or "").name
        else:
            err = self.refused(outcome, InvalidTransition)
            assert isinstance(err, InvalidTransition)
            assert (err.action, err.status) == (action, m.status)
        return False

    # -------------------------------------------------------------------- rules

    @initialize(
        priority=priorities,
        assign_to=st.one_of(st.none(), agents),
        transcript=st.integers(min_value=0, max_value=2),
        first_message=st.sampled_from([None, *EXTERNAL_IDS]),
    )
    def create(
        self,
        priority: Priority,
        assign_to: str | None,
        transcript: int,
        first_message: str | None,
    ) -> None:
        """A new escalation; most get a customer message with an external id, to repeat later."""
        conversation_id = f"conv_{uuid.uuid4().hex}"
        new = self.new_escalation(
            conversation_id,
            priority,
            transcript=[NewMessage(Role.customer, f"hello {i}") for i in range(transcript)],
            assign_to=actor(assign_to) if assign_to else None,
        )
        esc, created = self.loop.run(self.machine.create(self.platform_id, new))
        assert created
        m = Expected(esc.id, conversation_id, Status.queued, None, priority, transcript)
        m.wrote("created", ("card.post",), m.sent("escalation.created"))
        if assign_to is not None:
            m.took(assign_to, card_update=False)
        assert (esc.status, esc.assignee_id) == (m.status, m.owner)
        self.current = m
        if first_message is not None:
            self.customer_message(first_message, Role.customer, scoped=True)

    @rule(priority=priorities)
    def create_again(self, priority: Priority) -> None:
        """An active conversation answers its escalation; an ended one opens a new one."""
        m = self.model
        new = self.new_escalation(m.conversation_id, priority)
        esc, created = self.loop.run(self.machine.create(self.platform_id, new))
        if m.active:
            assert not created and esc.id == m.esc_id and esc.status == m.status
            return
        assert created and esc.id != m.esc_id and esc.status == Status.queued
        self.earlier.append(m)
        fresh = Expected(esc.id, m.conversation_id, Status.queued, None, priority, 0)
        fresh.wrote("created", ("card.post",), fresh.sent("escalation.created"))
        self.current = fresh

    @rule(agent=agents, scoped=st.booleans())
    def take(self, agent: str, scoped: bool) -> None:
        m = self.model
        outcome = self.call(self.seen_by(scoped).take(m.esc_id, actor(agent)))
        if m.status == Status.queued:
            esc = self.accepted(outcome)
            m.took(agent)
        elif m.status == Status.taken and m.owner == agent:
            esc = self.accepted(outcome)  # taking what you already own changes nothing
        elif m.status == Status.taken:
            err = self.refused(outcome, Conflict)
            assert isinstance(err, Conflict)
            assert (err.owner_id, err.owner_name) == (m.owner, actor(m.owner or "").name)
            return
        else:
            err = self.refused(outcome, InvalidTransition)
            assert isinstance(err, InvalidTransition) and err.status == m.status
            return
        assert (esc.status, esc.assignee_id) == (Status.taken, agent)

    @rule(agent=agents, scoped=st.booleans(), from_slack=st.booleans())
    def reply(self, agent: str, scoped: bool, from_slack: bool) -> None:
        m = self.model
        self.ts += 1
        slack_ts = f"1700000000.{self.ts:06d}" if from_slack else None
        outcome = self.call(
            self.seen_by(scoped).reply(m.esc_id, actor(agent), "Xin chào", from_slack_ts=slack_ts)
        )
        if m.status == Status.taken and m.owner == agent:
            esc, msg = self.accepted(outcome)
            assert esc.status == Status.taken and msg.author_id == agent
            m.messages += 1
            slack = ("card.update",) if from_slack else ("thread.message", "card.update")
            m.wrote("reply", slack, m.sent("escalation.message"))
        elif m.status == Status.taken:
            err = self.refused(outcome, NotOwner)
            assert isinstance(err, NotOwner) and err.owner_name == actor(m.owner or "").name
        else:
            err = self.refused(outcome, InvalidTransition)
            assert isinstance(err, InvalidTransition) and err.status == m.status

    @rule(agent=agents, scoped=st.booleans(), from_slack=st.booleans())
    def add_note(self, agent: str, scoped: bool, from_slack: bool) -> None:
        m = self.model
        outcome = self.call(
            self.seen_by(scoped).add_note(m.esc_id, actor(agent), "internal", from_slack=from_slack)
        )
        event = self.accepted(outcome)  # notes are allowed in every status
        assert event.type == "note" and event.actor_id == agent
        m.wrote("note", () if from_slack else ("thread.note",))

    @rule(
        external_id=st.sampled_from([None, *EXTERNAL_IDS]),
        role=st.sampled_from([Role.customer, Role.assistant]),
        scoped=st.booleans(),
    )
    def add_customer_message(self, external_id: str | None, role: Role, scoped: bool) -> None:
        self.customer_message(external_id, role, scoped)

    @precondition(lambda self: self.current is not None and self.current.external_ids)
    @rule(data=st.data(), scoped=st.booleans())
    def repeat_customer_message(self, data: st.DataObject, scoped: bool) -> None:
        """A platform retrying a message it already sent, whatever has happened since."""
        external_id = data.draw(st.sampled_from(sorted(self.model.external_ids)))
        self.customer_message(external_id, Role.customer, scoped)

    def customer_message(self, external_id: str | None, role: Role, scoped: bool) -> None:
        m = self.model
        new = NewMessage(role, "still waiting", external_id=external_id)
        outcome = self.call(self.seen_by(scoped).add_customer_message(m.esc_id, new))
        if external_id is not None and external_id in m.external_ids:
            msg, created = self.accepted(outcome)  # a repeat answers the original, any status
            assert not created and msg.id == m.external_ids[external_id]
        elif m.active:
            msg, created = self.accepted(outcome)
            assert created and msg.external_id == external_id
            m.messages += 1
            if external_id is not None:
                m.external_ids[external_id] = msg.id
            m.wrote("message", ("thread.message", "card.update"))
        else:
            err = self.refused(outcome, InvalidTransition)
            assert isinstance(err, InvalidTransition) and err.status == m.status

    @rule(agent=agents, scoped=st.booleans())
    def return_to_bot(self, agent: str, scoped: bool) -> None:
        m = self.model
        outcome = self.call(self.seen_by(scoped).return_to_bot(m.esc_id, actor(agent)))
        if self.check_ended_or_refused(outcome, agent, Status.returned, "return"):
            m.status, m.owner = Status.returned, None
            m.wrote("returned", ("card.update",), m.sent("escalation.returned"))

    @rule(
        agent=agents,
        scoped=st.booleans(),
        resolution=st.sampled_from(list(Resolution)),
        note=st.one_of(st.none(), st.just("refund sent")),
        keep_ai_paused=st.booleans(),
    )
    def close(
        self,
        agent: str,
        scoped: bool,
        resolution: Resolution,
        note: str | None,
        keep_ai_paused: bool,
    ) -> None:
        m = self.model
        outcome = self.call(
            self.seen_by(scoped).close(
                m.esc_id, actor(agent), resolution, note=note, keep_ai_paused=keep_ai_paused
            )
        )
        if self.check_ended_or_refused(outcome, agent, Status.closed, "close"):
            m.status, m.owner = Status.closed, None
            m.resolution, m.close_note, m.keep_ai_paused = resolution, note, keep_ai_paused
            closed = m.sent(
                "escalation.closed",
                ("resolution", str(resolution)),
                ("note", note),
                ("keep_ai_paused", keep_ai_paused),
            )
            m.wrote("closed", ("card.update",), closed)

    @rule(
        by=agents,
        scoped=st.booleans(),
        priority=st.one_of(st.just(UNSET), priorities),
        assignee=st.one_of(st.just(UNSET), st.none(), agents),
        note=notes,
    )
    def update(
        self,
        by: str,
        scoped: bool,
        priority: Priority | Unset,
        assignee: str | Unset | None,
        note: str | None,
    ) -> None:
        """Priority, then owner, then note, in one transaction: all of it or none of it."""
        m = self.model
        after = copy.deepcopy(m)
        error: tuple[str, Status] | None = None
        if not isinstance(priority, Unset) and priority != after.priority:
            if after.active:
                after.priority = priority
                after.wrote("priority_changed", ("card.update",))
            else:
                error = ("change the priority of", after.status)
        if error is None and not isinstance(assignee, Unset):
            if not after.active:
                error = ("assign", after.status)
            elif assignee is None and after.status == Status.taken:
                after.status, after.owner = Status.queued, None
                after.wrote("unassigned", ("card.update",))
            elif assignee is not None and after.status == Status.queued:
                after.took(assignee)
            elif assignee is not None and after.owner != assignee:
                after.took(assignee, event="reassigned")
        if error is None and note:
            after.wrote("note", ("thread.note",))
        outcome = self.call(
            self.seen_by(scoped).update(
                m.esc_id,
                actor(by),
                priority=priority,
                assignee=actor(assignee) if isinstance(assignee, str) else assignee,
                note=note,
            )
        )
        if error is not None:
            err = self.refused(outcome, InvalidTransition)
            assert isinstance(err, InvalidTransition) and (err.action, err.status) == error
            return
        esc = self.accepted(outcome)
        assert (esc.status, esc.assignee_id, esc.priority) == (
            after.status,
            after.owner,
            after.priority,
        )
        self.current = after

    @rule(
        action=st.sampled_from(["take", "reply", "note", "message", "return", "close", "update"]),
        external_id=st.sampled_from([None, *EXTERNAL_IDS]),
    )
    def wrong_platform(self, action: str, external_id: str | None) -> None:
        """Another platform's scope finds nothing and writes nothing, whatever the status."""
        m = self.model
        who = actor(m.owner or AGENTS[0])
        elsewhere = self.machine.for_platform(NOWHERE)
        calls = {
            "take": lambda: elsewhere.take(m.esc_id, who),
            "reply": lambda: elsewhere.reply(m.esc_id, who, "hi"),
            "note": lambda: elsewhere.add_note(m.esc_id, who, "x"),
            "message": lambda: elsewhere.add_customer_message(
                m.esc_id, NewMessage(Role.customer, "x", external_id=external_id)
            ),
            "return": lambda: elsewhere.return_to_bot(m.esc_id, who),
            "close": lambda: elsewhere.close(m.esc_id, who, Resolution.resolved),
            "update": lambda: elsewhere.update(
                m.esc_id, who, priority=Priority.urgent, assignee=None, note="x"
            ),
        }
        self.refused(self.call(calls[action]()), NotFound)

    # --------------------------------------------------------------- invariants

    @invariant()
    def rows_match_the_model(self) -> None:
        if self.current is None:
            return  # before the escalation is created
        for m in [*self.earlier, self.current]:
            self.check_rows(m, self.loop.run(read_rows(self.machine.db, m.esc_id)))

    def check_rows(self, m: Expected, rows: Snapshot) -> None:
        esc = rows.escalation
        assert esc.status in set(Status)
        assert (esc.assignee_id is not None) == (esc.status == Status.taken)
        assert (esc.assignee_name is not None) == (esc.status == Status.taken)
        assert (esc.ended_at is not None) == (esc.status not in ACTIVE_STATUSES)
        assert (esc.status, esc.assignee_id, esc.priority) == (m.status, m.owner, m.priority)
        if m.owner is not None:
            assert esc.assignee_name == actor(m.owner).name
        assert (esc.resolution, esc.close_note, esc.keep_ai_paused) == (
            m.resolution,
            m.close_note,
            m.keep_ai_paused,
        )
        assert [e.type for e in rows.events] == m.events
        # Every audit event but "created" and "note" comes with one conditional update.
        assert esc.version == 1 + sum(e not in ("created", "note") for e in m.events)
        assert (esc.first_taken_at is not None) == ("taken" in m.events)
        assert (esc.first_reply_at is not None) == ("reply" in m.events)
        if esc.status == Status.taken:
            assert esc.taken_at is not None
        assert rows.messages == m.messages
        assert rows.external_ids == m.external_ids

        slack = [r for r in rows.outbox if r.topic == Topic.slack]
        platform = [r for r in rows.outbox if r.topic == Topic.platform]
        assert len(rows.outbox) == len(slack) + len(platform)
        assert [r.kind for r in slack] == m.slack
        assert len(platform) == len(m.platform), [r.kind for r in platform]
        event_ids = {e.id: e.type for e in rows.events}
        for row, sent in zip(platform, m.platform, strict=True):
            data = row.payload["data"]
            shown = data["escalation"]
            assert (row.kind, row.payload["type"]) == (sent.kind, sent.kind)
            assert data["escalation_id"] == shown["id"] == m.esc_id
            assert shown["status"] == sent.status, (sent.kind, shown["status"])
            owner = shown["assignee"]["id"] if shown["assignee"] else None
            assert owner == sent.owner, (sent.kind, owner)
            assert row.event_id in event_ids, "a platform event names its audit event"
            for key, value in sent.extra:
                assert data[key] == value, (sent.kind, key)


def test_machine_follows_its_rules(database_url: str) -> None:
    loop = LoopThread()

    async def start() -> tuple[Database, str]:
        db = Database(database_url)
        platform = await add_platform(
            db, SecretBox(TEST_SECRET_KEY), f"props-{uuid.uuid4().hex[:8]}", "https://x.test/h"
        )
        return db, platform.platform.id

    try:
        db, platform_id = loop.run(start())
        try:
            machine = Machine(db, CustomerTexts())
            run_state_machine_as_test(
                lambda: MachineRules(loop, machine, platform_id), settings=PROPERTY_SETTINGS
            )
        finally:
            loop.run(db.dispose())
    finally:
        loop.close()
