"""Take, reply, notes, return, close and PATCH through the API, legal and not."""

import asyncio
from typing import Any

import pytest

from tests.conftest import Env


async def _post(env: Env, esc_id: str, action: str, body: dict[str, Any]) -> Any:
    return await env.client.post(f"/v1/escalations/{esc_id}/{action}", json=body, headers=env.auth)


async def test_the_whole_lifecycle_writes_the_audit_trail_and_events(env: Env) -> None:
    esc = await env.create()
    taken = await _post(env, esc["id"], "take", {"agent": "U0MINH"})
    assert taken.status_code == 200
    assert taken.json()["assignee"] == {"id": "U0MINH", "name": "U0MINH"}
    assert taken.json()["taken_at"] is not None
    reply = await _post(env, esc["id"], "reply", {"agent": "U0MINH", "content": "Xin chào!"})
    assert reply.status_code == 201
    assert reply.json()["author"] == {"id": "U0MINH", "name": "U0MINH"}
    note = await _post(env, esc["id"], "notes", {"agent": "U0ANN", "content": "VIP customer"})
    assert note.status_code == 201
    assert note.json()["type"] == "note"
    closed = await _post(
        env,
        esc["id"],
        "close",
        {
            "agent": "U0MINH",
            "resolution": "resolved",
            "note": "refund sent",
            "keep_ai_paused": True,
        },
    )
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["resolution"] == "resolved"
    assert closed.json()["assignee"] is None
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert [e["type"] for e in detail["events"]] == ["created", "taken", "reply", "note", "closed"]
    assert detail["events"][3]["data"] == {"content": "VIP customer"}
    assert detail["close_note"] == "refund sent"
    assert detail["keep_ai_paused"] is True
    # Notes never reach the messages a platform might show a customer.
    assert "VIP customer" not in [m["content"] for m in detail["messages"]]

    events = await env.platform_events(esc["id"])
    assert [e["type"] for e in events] == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",
        "escalation.closed",
    ]
    created, taken_event, message, closed_event = (e["data"] for e in events)
    assert (
        "connecting you" in created["customer_message"] or "kết nối" in created["customer_message"]
    )
    assert taken_event["agent"] == {"id": "U0MINH", "name": "U0MINH"}
    assert "U0MINH" in taken_event["customer_message"]
    assert message["message"]["content"] == "Xin chào!"
    assert message["message"]["agent"]["name"] == "U0MINH"
    assert closed_event["resolution"] == "resolved"
    assert closed_event["note"] == "refund sent"
    assert closed_event["keep_ai_paused"] is True
    for data in (created, taken_event, message, closed_event):
        assert data["escalation_id"] == esc["id"]
        assert data["conversation_id"] == esc["conversation_id"]
    assert closed_event["escalation"]["status"] == "closed"


async def test_taking_one_already_taken_names_the_owner_and_changes_nothing(env: Env) -> None:
    esc = await env.create()
    await _post(env, esc["id"], "take", {"agent": "U0MINH"})
    before = await env.counts()
    response = await _post(env, esc["id"], "take", {"agent": "U0ANN"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "U0MINH" in error["message"]
    assert error["details"]["owner"]["id"] == "U0MINH"
    assert await env.counts() == before


async def test_taking_what_you_own_changes_nothing(env: Env) -> None:
    esc = await env.create()
    await _post(env, esc["id"], "take", {"agent": "U0MINH"})
    before = await env.counts()
    again = await _post(env, esc["id"], "take", {"agent": "U0MINH"})
    assert again.status_code == 200
    assert await env.counts() == before


@pytest.mark.parametrize(
    ("setup", "action", "body", "status"),
    [
        ("returned", "take", {"agent": "U0ANN"}, "returned"),
        ("closed", "reply", {"agent": "U0MINH", "content": "hi"}, "closed"),
        ("queued", "reply", {"agent": "U0MINH", "content": "hi"}, "queued"),
        ("closed", "return", {"agent": "U0MINH"}, "closed"),
        ("returned", "close", {"agent": "U0MINH", "resolution": "resolved"}, "returned"),
        ("closed", "messages", {"content": "are you there?"}, "closed"),
    ],
)
async def test_illegal_transitions_name_the_status_and_change_nothing(
    env: Env, setup: str, action: str, body: dict[str, Any], status: str
) -> None:
    esc = await env.create()
    if setup in ("returned", "closed"):
        await _post(env, esc["id"], "take", {"agent": "U0MINH"})
        end = {"returned": ("return", {}), "closed": ("close", {"resolution": "resolved"})}
        verb, extra = end[setup]
        assert (await _post(env, esc["id"], verb, {"agent": "U0MINH", **extra})).status_code == 200
    before = await env.counts()
    response = await _post(env, esc["id"], action, body)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert status in error["message"]
    assert error["details"] == {"status": status}
    assert await env.counts() == before


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("reply", {"agent": "U0ANN", "content": "let me"}),
        ("return", {"agent": "U0ANN"}),
        ("close", {"agent": "U0ANN", "resolution": "spam"}),
    ],
)
async def test_only_the_owner_replies_returns_or_closes_a_taken_one(
    env: Env, action: str, body: dict[str, Any]
) -> None:
    esc = await env.create()
    await _post(env, esc["id"], "take", {"agent": "U0MINH"})
    before = await env.counts()
    response = await _post(env, esc["id"], action, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "U0MINH" in response.json()["error"]["message"]
    # The owner, in the shape a 409 for a lost take names them.
    assert response.json()["error"]["details"] == {"owner": {"id": "U0MINH", "name": "U0MINH"}}
    assert await env.counts() == before


async def test_a_queued_one_can_be_returned_by_a_lead(env: Env) -> None:
    esc = await env.create()
    response = await _post(env, esc["id"], "return", {"agent": "U0LEAD"})
    assert response.status_code == 200
    assert response.json()["status"] == "returned"
    events = await env.platform_events(esc["id"])
    assert events[-1]["type"] == "escalation.returned"
    assert events[-1]["data"]["customer_message"]


async def test_close_requires_a_known_resolution(env: Env) -> None:
    esc = await env.create()
    response = await _post(env, esc["id"], "close", {"agent": "U0MINH", "resolution": "meh"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "resolution"


async def test_agents_known_by_email_get_their_slack_identity(env: Env) -> None:
    from storage.models import Agent

    async with env.db.write() as s:
        s.add(
            Agent(
                id="U0MINH",
                email="minh@acme.example",
                display_name="Minh",
                updated_at=env.clock.now(),
            )
        )
    esc = await env.create()
    taken = await _post(env, esc["id"], "take", {"agent": "Minh@acme.example"})
    assert taken.json()["assignee"] == {"id": "U0MINH", "name": "Minh"}
    events = await env.platform_events(esc["id"])
    assert "Minh" in events[-1]["data"]["customer_message"]


# ----------------------------------------------------------------------------------- messages


async def test_customer_messages_are_stored_once_per_external_id(env: Env) -> None:
    esc = await env.create()
    body = {"content": "still waiting", "external_id": "wa_77", "timestamp": "2026-03-12T10:09:00Z"}
    first = await _post(env, esc["id"], "messages", body)
    assert first.status_code == 201
    assert first.json()["role"] == "customer"
    before = await env.counts()
    repeat = await _post(env, esc["id"], "messages", body)
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
    assert await env.counts() == before


async def test_concurrent_repeats_of_one_external_id_store_one_message(env: Env) -> None:
    esc = await env.create()
    body = {"content": "hello?", "external_id": "wa_race"}
    responses = await asyncio.gather(*(_post(env, esc["id"], "messages", body) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_assistant_messages_are_accepted_but_not_agent_ones(env: Env) -> None:
    esc = await env.create()
    ok = await _post(env, esc["id"], "messages", {"role": "assistant", "content": "hold on"})
    assert ok.status_code == 201
    bad = await _post(env, esc["id"], "messages", {"role": "agent", "content": "forged"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "role"


# -------------------------------------------------------------------------------------- PATCH


async def _patch(env: Env, esc_id: str, body: dict[str, Any]) -> Any:
    return await env.client.patch(f"/v1/escalations/{esc_id}", json=body, headers=env.auth)


async def test_patch_assignee_takes_reassigns_and_unassigns(env: Env) -> None:
    esc = await env.create()
    taken = await _patch(env, esc["id"], {"assignee": "U0MINH"})
    assert taken.json()["status"] == "taken"
    assert taken.json()["assignee"]["id"] == "U0MINH"
    moved = await _patch(env, esc["id"], {"assignee": "U0ANN"})
    assert moved.json()["assignee"]["id"] == "U0ANN"
    freed = await _patch(env, esc["id"], {"assignee": None})
    assert freed.json()["status"] == "queued"
    assert freed.json()["assignee"] is None
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert [e["type"] for e in detail["events"]][1:] == ["taken", "reassigned", "unassigned"]
    assert detail["events"][2]["data"]["previous"]["id"] == "U0MINH"
    # Reassignment tells the platform who the customer now talks to.
    events = await env.platform_events(esc["id"])
    assert [e["type"] for e in events] == [
        "escalation.created",
        "escalation.taken",
        "escalation.taken",
    ]
    assert events[-1]["data"]["agent"]["id"] == "U0ANN"


async def test_patch_priority_and_note_in_one_go(env: Env) -> None:
    esc = await env.create()
    response = await _patch(env, esc["id"], {"priority": "urgent", "note": "CEO's friend"})
    assert response.status_code == 200
    assert response.json()["priority"] == "urgent"
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    changed, note = detail["events"][1:]
    assert changed["type"] == "priority_changed"
    assert changed["data"] == {"from": "high", "to": "urgent"}
    assert note["type"] == "note"
    assert note["actor"]["name"] == "acme"


async def test_patch_on_an_ended_one_changes_nothing_at_all(env: Env) -> None:
    esc = await env.create()
    await _post(env, esc["id"], "return", {"agent": "U0LEAD"})
    before = await env.counts()
    response = await _patch(env, esc["id"], {"note": "late note", "assignee": "U0MINH"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert await env.counts() == before


async def test_patch_priority_null_is_refused_and_changes_nothing(env: Env) -> None:
    # There is no null priority: null is neither "unchanged" (leave it out) nor a value.
    esc = await env.create()
    before = await env.counts()
    response = await _patch(env, esc["id"], {"priority": None, "note": "lower it"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {
            "field": "priority",
            "message": "Input should be one of 'low', 'medium', 'high', 'urgent'; "
            "leave priority out to keep it unchanged",
        }
    ]
    assert await env.counts() == before
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert detail["priority"] == "high"
    assert [e["type"] for e in detail["events"]] == ["created"]


async def test_patch_without_priority_keeps_it(env: Env) -> None:
    esc = await env.create()
    response = await _patch(env, esc["id"], {"note": "called back"})
    assert response.status_code == 200
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert detail["priority"] == "high"
    assert [e["type"] for e in detail["events"]] == ["created", "note"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"agent": "U0ANN", "content": ', "not valid JSON at character 30: Expecting value"),
        (b'{"agent": "U0ANN",}', "not valid JSON at character 18: Expecting property name"),
    ],
)
async def test_a_body_that_is_not_json_says_where_and_why(
    env: Env, raw: bytes, message: str
) -> None:
    esc = await env.create()
    await _post(env, esc["id"], "take", {"agent": "U0ANN"})
    response = await env.client.post(
        f"/v1/escalations/{esc['id']}/reply",
        content=raw,
        headers={**env.auth, "content-type": "application/json"},
    )
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "body"
    assert detail["message"].startswith(message)
