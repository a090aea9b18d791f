"""What the OpenAPI document says a request body may hold is what the API accepts: each field
it documents as nullable takes null, each other field refuses null (and changes nothing), and
numbers are documented with the bounds that are enforced."""

import copy
from collections.abc import Iterator
from typing import Any

from tests.conftest import Env, escalation_body

AGENT = "U0MINH"
ATTACHMENT = {"url": "https://203.0.113.9/a.png", "name": "a.png", "mime_type": "image/png"}
Path = tuple[str | int, ...]


def _create_body() -> dict[str, Any]:
    body = escalation_body()
    body["customer"].update(email="a@example.com", avatar_url="https://203.0.113.9/a.png")
    body["transcript"][0]["attachments"] = [ATTACHMENT]
    body["assign_to"] = AGENT
    return body


# A valid body of every operation that takes one, sent to an escalation taken by AGENT.
BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/escalations/{escalation_id}/messages": {
        "content": "still there?",
        "attachments": [ATTACHMENT],
        "external_id": "wa_1",
        "timestamp": "2026-03-12T10:09:00Z",
    },
    "POST /v1/escalations/{escalation_id}/take": {"agent": AGENT},
    "POST /v1/escalations/{escalation_id}/reply": {
        "agent": AGENT,
        "content": "on it",
        "attachments": [ATTACHMENT],
    },
    "POST /v1/escalations/{escalation_id}/notes": {"agent": AGENT, "content": "VIP"},
    "POST /v1/escalations/{escalation_id}/return": {"agent": AGENT},
    "POST /v1/escalations/{escalation_id}/close": {
        "agent": AGENT,
        "resolution": "resolved",
        "note": "refunded",
        "keep_ai_paused": False,
    },
    "PATCH /v1/escalations/{escalation_id}": {"priority": "low", "assignee": AGENT, "note": "n"},
    "POST /v1/escalations/{escalation_id}/rating": {"score": 4, "comment": "quick"},
    "PUT /v1/stats/conversations/{date}": {"count": 1200},
    "POST /v1/escalations/{escalation_id}/suggestions": {
        "content": "Refunded",
        "markdown": "**x**",
    },
}
# Operations that need the escalation ended first (the others take a taken one).
ON_ENDED = {"POST /v1/escalations/{escalation_id}/rating"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fields(
    doc: dict[str, Any], schema: dict[str, Any], value: Any, path: Path = ()
) -> Iterator[tuple[Path, bool]]:
    """Every field of ``schema`` (as far as ``value`` has it) and whether it is nullable."""
    schema = _resolve(doc, schema)
    options = [_resolve(doc, o) for o in schema.get("anyOf", [schema])]
    concrete = [o for o in options if o.get("type") != "null"]
    if isinstance(value, dict):
        for name, prop in (
            next((o for o in concrete if "properties" in o), {}).get("properties", {}).items()
        ):
            prop_options = _resolve(doc, prop).get("anyOf", [prop])
            yield (*path, name), {"type": "null"} in prop_options
            if name in value:
                yield from _fields(doc, prop, value[name], (*path, name))
    elif isinstance(value, list) and value:
        items = next((o["items"] for o in concrete if "items" in o), {})
        yield from _fields(doc, items, value[0], (*path, 0))


def _with_null(body: dict[str, Any], path: Path) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = None
    return changed


def _body_schema(doc: dict[str, Any], operation: str) -> dict[str, Any]:
    method, route = operation.split(" ")
    return doc["paths"][route][method.lower()]["requestBody"]["content"]["application/json"][
        "schema"
    ]


async def test_every_body_field_takes_null_exactly_when_documented_nullable(env: Env) -> None:
    doc = (await env.client.get("/openapi.json")).json()
    documented = {
        f"{method.upper()} {route}"
        for route, operations in doc["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert documented == {"POST /v1/escalations", *BODIES}, "a new body: add it to BODIES"

    wrong: list[str] = []
    checked: dict[bool, list[str]] = {True: [], False: []}

    async def send(operation: str, path: Path, nullable: bool, body: dict[str, Any]) -> None:
        method, route = operation.split(" ")
        if route == "/v1/escalations":
            url = route
        elif "{date}" in route:
            url = route.format(date="2026-11-23")
        else:
            esc = await env.create(assign_to=AGENT)
            url = route.format(escalation_id=esc["id"])
            if operation in ON_ENDED:
                ended = await env.client.post(
                    f"{url.rsplit('/', 1)[0]}/return", json={"agent": AGENT}, headers=env.auth
                )
                assert ended.status_code == 200, ended.text
        before = await env.counts()
        response = await env.client.request(method, url, json=body, headers=env.auth)
        where = f"{operation} {'.'.join(map(str, path))}: null"
        checked[nullable].append(where)
        if nullable and response.status_code not in (200, 201):
            wrong.append(f"{where} is documented nullable but answered {response.text}")
        refused = response.status_code == 422 and await env.counts() == before
        if not nullable and not refused:
            wrong.append(f"{where} is not documented nullable but answered {response.text}")

    for operation, base in [("POST /v1/escalations", _create_body()), *BODIES.items()]:
        for path, nullable in _fields(doc, _body_schema(doc, operation), base):
            body = _create_body() if operation == "POST /v1/escalations" else base
            await send(operation, path, nullable, _with_null(body, path))
    assert wrong == []
    assert "PATCH /v1/escalations/{escalation_id} assignee: null" in checked[True]
    assert "POST /v1/escalations confidence: null" in checked[True]
    assert "POST /v1/escalations transcript.0.attachments.0.name: null" in checked[True]
    assert "PATCH /v1/escalations/{escalation_id} priority: null" in checked[False]
    assert "POST /v1/escalations customer: null" in checked[False]


async def test_patch_documents_priority_as_optional_but_not_nullable(env: Env) -> None:
    doc = (await env.client.get("/openapi.json")).json()
    patch = _resolve(doc, _body_schema(doc, "PATCH /v1/escalations/{escalation_id}"))
    assert patch.get("required", []) == []
    priority = patch["properties"]["priority"]
    assert _resolve(doc, priority)["enum"] == ["low", "medium", "high", "urgent"]
    assert "anyOf" not in priority and "default" not in priority


async def test_confidence_is_documented_as_the_whole_numbers_it_accepts(env: Env) -> None:
    doc = (await env.client.get("/openapi.json")).json()
    create = _resolve(doc, _body_schema(doc, "POST /v1/escalations"))
    assert create["properties"]["confidence"]["anyOf"] == [
        {"type": "integer", "minimum": 0, "maximum": 100},
        {"type": "null"},
    ]
