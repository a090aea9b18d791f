"""The OpenAPI document reads well for a platform developer and for generated SDKs: every
operation has a clean id, a tag, a summary and a description; every field is described; the
events are declared as webhooks, and each declared body is what Baton really sends."""

import re
from typing import Any

import pytest
from pydantic import BaseModel

from api.http import event_bodies
from api.http.app import create_app
from storage.outbox.rows import PlatformEvent
from tests.conftest import Env, make_settings

OPERATIONS = {
    "POST /v1/escalations": "createEscalation",
    "GET /v1/escalations": "listEscalations",
    "GET /v1/escalations/{escalation_id}": "getEscalation",
    "PATCH /v1/escalations/{escalation_id}": "updateEscalation",
    "POST /v1/escalations/{escalation_id}/messages": "addEscalationMessage",
    "POST /v1/escalations/{escalation_id}/take": "takeEscalation",
    "POST /v1/escalations/{escalation_id}/reply": "replyToEscalation",
    "POST /v1/escalations/{escalation_id}/notes": "addEscalationNote",
    "POST /v1/escalations/{escalation_id}/return": "returnEscalationToBot",
    "POST /v1/escalations/{escalation_id}/close": "closeEscalation",
    "POST /v1/escalations/{escalation_id}/suggestions": "suggestEscalationReply",
    "POST /v1/escalations/{escalation_id}/rating": "rateEscalation",
    "POST /v1/escalations/{escalation_id}/resume_ai": "resumeEscalationAi",
    "GET /v1/files/{attachment_id}": "downloadFile",
    "PUT /v1/stats/conversations/{date}": "setConversationCount",
    "GET /healthz": "checkLiveness",
    "GET /readyz": "checkReadiness",
    "GET /metrics": "getMetrics",
}
WEBHOOKS = {
    "escalation.created": event_bodies.EscalationCreated,
    "escalation.taken": event_bodies.EscalationTaken,
    "escalation.message": event_bodies.EscalationMessage,
    "escalation.message_edited": event_bodies.EscalationMessageEdited,
    "escalation.message_deleted": event_bodies.EscalationMessageDeleted,
    "escalation.returned": event_bodies.EscalationReturned,
    "escalation.closed": event_bodies.EscalationClosed,
    "escalation.ai_resumed": event_bodies.EscalationAiResumed,
    "sla.at_risk": event_bodies.SlaAtRisk,
    "sla.breached": event_bodies.SlaBreached,
}
CAMEL_CASE = re.compile(r"^[a-z]+(?:[A-Z][a-z]+)*$")
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi')}/baton.db"
    return create_app(make_settings(url), migrate=False).openapi()


def _operations(section: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": op
        for path, ops in section.items()
        for method, op in ops.items()
        if method in HTTP_METHODS
    }


def test_every_operation_has_its_clean_id_a_tag_a_summary_and_a_description(
    doc: dict[str, Any],
) -> None:
    operations = _operations(doc["paths"])
    assert {k: op["operationId"] for k, op in operations.items()} == OPERATIONS
    webhooks = _operations(doc["webhooks"])
    ids = [op["operationId"] for op in [*operations.values(), *webhooks.values()]]
    assert len(ids) == len(set(ids))
    for key, op in {**operations, **webhooks}.items():
        assert CAMEL_CASE.match(op["operationId"]), key
        assert op.get("tags"), key
        assert op.get("summary"), key
        assert len(op.get("description", "")) > 40, key
    declared = {t["name"] for t in doc["tags"]}
    assert {t for op in operations.values() for t in op["tags"]} <= declared


def test_the_slack_endpoint_is_not_part_of_the_api(doc: dict[str, Any]) -> None:
    assert "/slack/events" not in doc["paths"]
    assert not any(p.startswith("/docs") for p in doc["paths"])


def test_every_field_of_every_schema_is_described(doc: dict[str, Any]) -> None:
    undescribed = [
        f"{name}.{field}"
        for name, schema in doc["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_every_parameter_is_described(doc: dict[str, Any]) -> None:
    for key, op in {**_operations(doc["paths"]), **_operations(doc["webhooks"])}.items():
        for parameter in op.get("parameters", []):
            assert parameter.get("description"), f"{key}: {parameter['name']}"


def test_errors_are_documented_with_the_envelope_and_their_meaning(doc: dict[str, Any]) -> None:
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for key, op in _operations(doc["paths"]).items():
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == envelope, key
                assert "`" in answer["description"], f"{key} {status}: which code?"


def test_a_webhook_per_event_type_with_the_signed_headers(doc: dict[str, Any]) -> None:
    assert set(doc["webhooks"]) == set(WEBHOOKS)
    assert {str(e) for e in PlatformEvent} <= set(doc["webhooks"])
    for name, model in WEBHOOKS.items():
        op = doc["webhooks"][name]["post"]
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model.__name__}"}
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert "Retry-After" in op["description"] and "24 hours" in op["description"]
        schema = doc["components"]["schemas"][model.__name__]
        assert schema["properties"]["type"]["const"] == name
    for name in ("sla.at_risk", "sla.breached"):
        assert "[[notifications]]" in doc["webhooks"][name]["post"]["description"]


def test_the_default_priority_is_said_to_be_configurable(doc: dict[str, Any]) -> None:
    priority = doc["components"]["schemas"]["CreateEscalation"]["properties"]["priority"]
    assert "default" not in priority
    assert "[api] default_priority" in priority["description"]


def _check(model: type[BaseModel], body: dict[str, Any]) -> None:
    """``body`` is what ``model`` documents: it validates, and has no undocumented field."""
    model.model_validate(body)
    data_model = model.model_fields["data"].annotation
    assert isinstance(data_model, type) and issubclass(data_model, BaseModel)
    assert set(body) == set(model.model_fields)
    documented = set(data_model.model_fields)
    assert set(body["data"]) <= documented, set(body["data"]) - documented
    required = {k for k, f in data_model.model_fields.items() if f.is_required()}
    assert required <= set(body["data"])


async def test_the_declared_bodies_are_what_platforms_receive(env: Env) -> None:
    agent = {"agent": "U0MINH"}
    esc = await env.create()
    base = f"/v1/escalations/{esc['id']}"
    for path, body in [
        ("/take", agent),
        ("/reply", {**agent, "content": "on it"}),
        ("/close", {**agent, "resolution": "resolved", "keep_ai_paused": True}),
        ("/resume_ai", None),
    ]:
        response = await env.client.post(base + path, json=body, headers=env.auth)
        assert response.status_code < 300, response.text
    returned = await env.create()
    response = await env.client.post(
        f"/v1/escalations/{returned['id']}/return", json=agent, headers=env.auth
    )
    assert response.status_code == 200, response.text

    bodies = [*await env.platform_events(esc["id"]), *await env.platform_events(returned["id"])]
    seen = {b["type"] for b in bodies}
    assert seen == {
        "escalation.created",
        "escalation.taken",
        "escalation.message",
        "escalation.closed",
        "escalation.ai_resumed",
        "escalation.returned",
    }
    for body in bodies:
        _check(WEBHOOKS[body["type"]], body)
