"""POST /v1/escalations: create, dedupe by conversation, idempotency, validation."""

import asyncio

import pytest

from tests.conftest import Env, escalation_body


async def test_create_answers_201_with_the_escalation(env: Env) -> None:
    body = escalation_body()
    response = await env.client.post("/v1/escalations", json=body, headers=env.auth)
    assert response.status_code == 201
    esc = response.json()
    assert esc["id"].startswith("esc_")
    assert esc["status"] == "queued"
    assert esc["priority"] == "high"
    assert esc["reason"] == "gate_failure"
    assert esc["customer"]["name"] == "Nguyen Van A"
    assert esc["assignee"] is None
    assert esc["conversation_id"] == body["conversation_id"]
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert [m["content"] for m in detail["messages"]] == [
        "Tôi muốn khiếu nại...",
        "Mình sẽ chuyển bạn đến đội hỗ trợ nhé!",
    ]
    assert detail["messages"][0]["timestamp"] == "2026-03-12T10:00:00.000Z"
    assert [e["type"] for e in detail["events"]] == ["created"]
    assert detail["context"]["memory"] == {"plan": "gold"}


async def test_priority_defaults_to_medium(env: Env) -> None:
    body = escalation_body()
    del body["priority"]
    response = await env.client.post("/v1/escalations", json=body, headers=env.auth)
    assert response.json()["priority"] == "medium"


async def test_an_active_conversation_is_answered_200_not_duplicated(env: Env) -> None:
    first = await env.create(conversation_id="conv_same")
    again = await env.client.post(
        "/v1/escalations", json=escalation_body(conversation_id="conv_same"), headers=env.auth
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    listed = await env.client.get(
        "/v1/escalations", params={"conversation_id": "conv_same"}, headers=env.auth
    )
    assert len(listed.json()["data"]) == 1


async def test_an_ended_conversation_opens_a_new_escalation(env: Env) -> None:
    first = await env.create(conversation_id="conv_again")
    await env.client.post(
        f"/v1/escalations/{first['id']}/return", json={"agent": "U1"}, headers=env.auth
    )
    second = await env.client.post(
        "/v1/escalations", json=escalation_body(conversation_id="conv_again"), headers=env.auth
    )
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]


async def test_concurrent_creates_of_one_conversation_make_one_escalation(env: Env) -> None:
    body = escalation_body(conversation_id="conv_race")
    responses = await asyncio.gather(
        *(env.client.post("/v1/escalations", json=body, headers=env.auth) for _ in range(16))
    )
    assert sorted(r.status_code for r in responses) == [200] * 15 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await env.counts())["escalations"] == 1


async def test_assign_to_creates_it_taken(env: Env) -> None:
    esc = await env.create(assign_to="U0MINH")
    assert esc["status"] == "taken"
    assert esc["assignee"] == {"id": "U0MINH", "name": "U0MINH"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"priority": "whenever"}, "priority"),
        ({"reason": "bored"}, "reason"),
        ({"confidence": "35"}, "confidence"),
        ({"confidence": 101}, "confidence"),
        ({"confidence": 35.5}, "confidence"),
        ({"confidence": 101.0}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"conversation_id": 42}, "conversation_id"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"customer": {"id": "c", "favourite_colour": "red"}}, "customer.favourite_colour"),
        ({"transcript": [{"role": "robot", "content": "x"}]}, "transcript.0.role"),
        (
            {"transcript": [{"role": "customer", "content": "x", "timestamp": "yesterday"}]},
            "transcript.0.timestamp",
        ),
        ({"context": {"memory": [], "tags": []}}, "context.memory"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    env: Env, change: dict, field: str
) -> None:
    before = await env.counts()
    body = escalation_body(**change)
    response = await env.client.post("/v1/escalations", json=body, headers=env.auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]
    assert field in error["message"]
    assert await env.counts() == before


@pytest.mark.parametrize(("sent", "stored"), [(35, 35), (35.0, 35), (0.0, 0), (100.0, 100)])
async def test_confidence_is_any_whole_number_json_allows(
    env: Env, sent: float, stored: int
) -> None:
    # JSON Schema's "integer", as documented, includes 35.0: stored as the integer it is.
    response = await env.client.post(
        "/v1/escalations", json=escalation_body(confidence=sent), headers=env.auth
    )
    assert response.status_code == 201, response.text
    assert response.json()["confidence"] == stored
    detail = await env.client.get(f"/v1/escalations/{response.json()['id']}", headers=env.auth)
    assert detail.json()["confidence"] == stored
    assert type(detail.json()["confidence"]) is int


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (35.5, "confidence: Input should be a valid integer, got a number with a fractional part"),
        ("35", "confidence: Input should be a valid integer"),
        (False, "confidence: Input should be a valid integer"),
        (100.5, "confidence: Input should be a valid integer, got a number with a fractional part"),
        (-1.0, "confidence: Input should be greater than or equal to 0"),
    ],
)
async def test_confidence_that_is_not_a_whole_number_is_refused_clearly(
    env: Env, sent: object, message: str
) -> None:
    before = await env.counts()
    response = await env.client.post(
        "/v1/escalations", json=escalation_body(confidence=sent), headers=env.auth
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == message
    assert await env.counts() == before


async def test_missing_required_field_is_named(env: Env) -> None:
    body = escalation_body()
    del body["reason"]
    response = await env.client.post("/v1/escalations", json=body, headers=env.auth)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"field": "reason", "message": "Field required"}]


async def test_broken_json_is_a_validation_error(env: Env) -> None:
    response = await env.client.post(
        "/v1/escalations",
        content=b'{"conversation_id": ',
        headers={**env.auth, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


# ------------------------------------------------------------------------------ idempotency


async def test_idempotent_replay_returns_the_identical_response(env: Env) -> None:
    body = escalation_body()
    headers = {**env.auth, "Idempotency-Key": "key-1"}
    first = await env.client.post("/v1/escalations", json=body, headers=headers)
    # The conversation is now active: a plain repeat would answer 200, a replay answers 201.
    replay = await env.client.post("/v1/escalations", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await env.counts())["escalations"] == 1


async def test_same_key_with_another_body_is_refused(env: Env) -> None:
    headers = {**env.auth, "Idempotency-Key": "key-2"}
    await env.client.post("/v1/escalations", json=escalation_body(), headers=headers)
    before = await env.counts()
    other = await env.client.post("/v1/escalations", json=escalation_body(), headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_mismatch"
    assert await env.counts() == before


async def test_keys_belong_to_one_platform(env: Env) -> None:
    other = await env.add_platform("globex")
    body = escalation_body()
    mine = await env.client.post(
        "/v1/escalations", json=body, headers={**env.auth, "Idempotency-Key": "shared"}
    )
    theirs = await env.client.post(
        "/v1/escalations",
        json=body,
        headers={"Authorization": f"Bearer {other.api_key}", "Idempotency-Key": "shared"},
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_concurrent_duplicates_create_one_escalation(env: Env) -> None:
    body = escalation_body()
    headers = {**env.auth, "Idempotency-Key": "key-race"}
    responses = await asyncio.gather(
        *(env.client.post("/v1/escalations", json=body, headers=headers) for _ in range(12))
    )
    statuses = [r.status_code for r in responses]
    # Each answer is either the one response (201) or "still in flight" (409), never a second
    # escalation.
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    in_flight = [r.json()["error"] for r in responses if r.status_code == 409]
    assert all(e["code"] == "conflict" for e in in_flight)
    assert (await env.counts())["escalations"] == 1


async def test_a_key_in_flight_answers_409(env: Env) -> None:
    from storage import idempotency

    body = escalation_body()
    from api.http.schemas import CreateEscalation

    fingerprint = idempotency.request_fingerprint(
        CreateEscalation.model_validate(body).model_dump(mode="json")
    )
    await idempotency.claim(env.db, env.platform.platform.id, "key-busy", fingerprint)
    response = await env.client.post(
        "/v1/escalations", json=body, headers={**env.auth, "Idempotency-Key": "key-busy"}
    )
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert "still being processed" in response.json()["error"]["message"]


async def test_keys_are_kept_24_hours_then_forgotten(database_url: str) -> None:
    from datetime import timedelta

    from scheduler.jobs import purge_idempotency_keys
    from tests.conftest import start_env

    env, lifespan = await start_env(database_url, manual_clock=True)
    try:
        headers = {**env.auth, "Idempotency-Key": "daily"}
        first = await env.client.post("/v1/escalations", json=escalation_body(), headers=headers)
        env.clock.advance(timedelta(hours=23))
        assert await purge_idempotency_keys(env.db) == 0
        other_body = await env.client.post(
            "/v1/escalations", json=escalation_body(), headers=headers
        )
        assert other_body.json()["error"]["code"] == "idempotency_mismatch"
        env.clock.advance(timedelta(hours=2))
        assert await purge_idempotency_keys(env.db) == 1
        reused = await env.client.post("/v1/escalations", json=escalation_body(), headers=headers)
        assert reused.status_code == 201
        assert reused.json()["id"] != first.json()["id"]
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)
