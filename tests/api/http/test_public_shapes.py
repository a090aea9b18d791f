"""One shape per entity: the API answers an escalation exactly as the platform events carry
it, field for field and in the same order, and the OpenAPI document describes that shape."""

from typing import Any

from tests.conftest import Env

ESCALATION_FIELDS = [
    "id",
    "conversation_id",
    "status",
    "priority",
    "reason",
    "reason_detail",
    "channel",
    "customer",
    "summary",
    "confidence",
    "assignee",
    "sla",
    "created_at",
    "updated_at",
    "taken_at",
    "ended_at",
    "resolution",
    "rating",
]
DETAIL_FIELDS = [
    *ESCALATION_FIELDS,
    "context",
    "close_note",
    "keep_ai_paused",
    "ai_resumed_at",
    "messages",
    "events",
]


def _schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    content = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    ref: str = content["schema"]["$ref"]
    schema: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


async def test_answers_and_events_carry_the_same_escalation(env: Env) -> None:
    created = await env.create()
    taken = await env.client.post(
        f"/v1/escalations/{created['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    assert list(created) == ESCALATION_FIELDS
    events = [e["data"]["escalation"] for e in await env.platform_events(created["id"])]
    assert [events[0], events[1]] == [created, taken.json()]
    assert [list(e) for e in events] == [ESCALATION_FIELDS, ESCALATION_FIELDS]
    detail = await env.client.get(f"/v1/escalations/{created['id']}", headers=env.auth)
    assert list(detail.json()) == DETAIL_FIELDS
    assert {k: detail.json()[k] for k in ESCALATION_FIELDS} == taken.json()


async def test_the_openapi_document_describes_the_answers(env: Env) -> None:
    doc = (await env.client.get("/openapi.json")).json()
    esc = _schema(doc, "/v1/escalations", "post", "201")
    assert esc == _schema(doc, "/v1/escalations", "post", "200")
    assert list(esc["properties"]) == esc["required"] == ESCALATION_FIELDS
    detail = _schema(doc, "/v1/escalations/{escalation_id}", "get", "200")
    assert list(detail["properties"]) == DETAIL_FIELDS
    for path, status in [("/take", "200"), ("/close", "200"), ("/return", "200")]:
        assert _schema(doc, "/v1/escalations/{escalation_id}" + path, "post", status) == esc
    assert _schema(doc, "/v1/escalations/{escalation_id}", "patch", "200") == esc
