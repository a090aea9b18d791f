"""Text that cannot be stored (a lone surrogate, a NUL), `context` nested too deep and a
cursor that was never given out: each answers 422 naming the field and changes nothing,
never 500, and never leaves behind a row that breaks later reads.

Bodies are sent as the raw JSON a client writes (``"\\ud83d"`` escaped), not through httpx's
``json=``, which cannot encode such strings at all.
"""

import base64
import json
from typing import Any

import pytest

from tests.conftest import Env, escalation_body

SURROGATE = "\ud83d"  # the first half of 😀, as JavaScript leaves it after cutting a string
LOW_SURROGATE = "\ude00"  # the second half alone
NUL = "\x00"
BAD_TEXT = [
    pytest.param(f"Cảm ơn {SURROGATE}", id="lone-high-surrogate"),
    pytest.param(f"{LOW_SURROGATE} ok", id="lone-low-surrogate"),
    pytest.param(f"a{NUL}b", id="nul"),
]


def raw(body: Any) -> bytes:
    """JSON as a client sends it: a lone surrogate becomes the escape ``\\ud83d``."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


async def post_raw(env: Env, path: str, body: Any, **headers: str) -> Any:
    return await env.client.post(
        path,
        content=raw(body),
        headers={**env.auth, "content-type": "application/json", **headers},
    )


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    here: Any = body
    for part in parents:
        here = here[int(part)] if isinstance(here, list) else here.setdefault(part, {})
    if isinstance(here, list):
        here[int(last)] = value
    else:
        here[last] = value


# Every text field of the create body, at the path the 422 names.
CREATE_FIELDS = [
    "conversation_id",
    "customer.id",
    "customer.name",
    "customer.email",
    "customer.locale",
    "channel",
    "reason_detail",
    "assign_to",
    "transcript.1.content",
    "transcript.0.attachments.0.name",
    "transcript.0.attachments.0.mime_type",
    "transcript.0.attachments.0.url",
    "context.memory.plan",
    "context.memory.order.lines.0.sku",
    "context.tags.0",
    "context.gate_audit.0.detail",
    "context.tool_calls.0.args.query",
]


def _create_body() -> dict[str, Any]:
    body = escalation_body()
    body["transcript"][0]["attachments"] = [
        {"url": "https://files.example.com/a.png", "name": "a.png", "mime_type": "image/png"}
    ]
    body["context"]["memory"]["order"] = {"lines": [{"sku": "A-1"}]}
    body["context"]["gate_audit"] = [{"gate": "claims", "detail": "x"}]
    body["context"]["tool_calls"] = [{"name": "search", "args": {"query": "refund"}}]
    return body


@pytest.mark.parametrize("field", CREATE_FIELDS)
async def test_create_refuses_a_lone_surrogate_in_any_one_field(env: Env, field: str) -> None:
    before = await env.counts()
    body = _create_body()
    _set(body, field, f"Cảm ơn {SURROGATE}")
    response = await post_raw(env, "/v1/escalations", body)
    assert_refused(response, field)
    assert "lone surrogate" in response.json()["error"]["message"]
    assert await env.counts() == before


@pytest.mark.parametrize("text", BAD_TEXT)
async def test_create_names_every_field_holding_unstorable_text(env: Env, text: str) -> None:
    before = await env.counts()
    body = _create_body()
    for field in CREATE_FIELDS:
        _set(body, field, text)
    response = await post_raw(env, "/v1/escalations", body)
    assert response.status_code == 422, response.text
    named = {d["field"] for d in response.json()["error"]["details"]}
    assert named == set(CREATE_FIELDS)
    assert await env.counts() == before


@pytest.mark.parametrize(
    ("key", "named"),
    [("Cảm ơn \ud83d", "Cảm ơn \\ud83d"), ("a\x00b", "a\\u0000b"), ("\ude00", "\\ude00")],
)
async def test_a_key_of_context_is_checked_too_and_named_printably(
    env: Env, key: str, named: str
) -> None:
    body = _create_body()
    body["context"]["memory"]["nested"] = {key: 1}
    response = await post_raw(env, "/v1/escalations", body)
    assert_refused(response, f"context.memory.nested.{named}")  # with JSON's escapes
    assert "the key must not contain" in response.text


async def test_every_bad_string_is_named_at_once(env: Env) -> None:
    body = _create_body()
    body["customer"]["name"] = SURROGATE
    body["transcript"][1]["content"] = NUL
    response = await post_raw(env, "/v1/escalations", body)
    assert_refused(response, "customer.name")
    assert_refused(response, "transcript.1.content")
    messages = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert "lone surrogate" in messages["customer.name"]
    assert "NUL" in messages["transcript.1.content"]


async def test_after_a_refused_surrogate_every_read_still_works(env: Env) -> None:
    """The bug: the surrogate was stored, and every later GET of it answered 500."""
    body = _create_body()
    body["context"]["memory"]["greeting"] = f"xin chào {SURROGATE}"
    assert_refused(await post_raw(env, "/v1/escalations", body), "context.memory.greeting")
    good = await env.create()
    assert (await env.client.get(f"/v1/escalations/{good['id']}", headers=env.auth)).is_success
    listed = await env.client.get("/v1/escalations", headers=env.auth)
    assert [e["id"] for e in listed.json()["data"]] == [good["id"]]


async def test_with_an_idempotency_key_the_refusal_leaves_the_key_free(env: Env) -> None:
    """The bug: with a key, the create itself answered 500 and the customer never escalated."""
    body = _create_body()
    body["context"]["memory"]["plan"] = SURROGATE
    refused = await post_raw(env, "/v1/escalations", body, **{"Idempotency-Key": "retry-1"})
    assert_refused(refused, "context.memory.plan")
    body["context"]["memory"]["plan"] = "gold"  # the client fixes its text and tries again
    created = await post_raw(env, "/v1/escalations", body, **{"Idempotency-Key": "retry-1"})
    assert created.status_code == 201, created.text
    again = await post_raw(env, "/v1/escalations", body, **{"Idempotency-Key": "retry-1"})
    assert again.json()["id"] == created.json()["id"]


async def test_whole_emoji_and_other_unusual_text_are_stored_as_sent(env: Env) -> None:
    body = _create_body()
    odd = "😀 👍🏽 🇻🇳 مرحبا \u202eRTL\u202c \ufeff tab\there \x07 \U0010fffd \U0001d518"
    body["customer"]["name"] = odd
    body["transcript"][1]["content"] = odd
    body["context"]["memory"] = {odd: [odd, {odd: odd}]}
    response = await post_raw(env, "/v1/escalations", body)
    assert response.status_code == 201, response.text
    detail = await env.client.get(f"/v1/escalations/{response.json()['id']}", headers=env.auth)
    assert detail.json()["customer"]["name"] == odd
    assert detail.json()["messages"][1]["content"] == odd
    assert detail.json()["context"]["memory"] == {odd: [odd, {odd: odd}]}


# --- the other bodies --------------------------------------------------------------------


async def _taken(env: Env) -> str:
    esc = await env.create()
    taken = await env.client.post(
        f"/v1/escalations/{esc['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    assert taken.status_code == 200, taken.text
    return esc["id"]


OTHER_BODIES = [
    ("messages", {"content": "x", "external_id": "e1"}, "content"),
    ("messages", {"content": "x", "external_id": "e1"}, "external_id"),
    (
        "messages",
        {"content": "x", "attachments": [{"url": "https://f.example.com/a", "name": "a"}]},
        "attachments.0.name",
    ),
    ("reply", {"agent": "U0MINH", "content": "x"}, "content"),
    ("reply", {"agent": "U0MINH", "content": "x"}, "agent"),
    ("notes", {"agent": "U0MINH", "content": "x"}, "content"),
    ("close", {"agent": "U0MINH", "resolution": "resolved", "note": "x"}, "note"),
    ("return", {"agent": "U0MINH"}, "agent"),
    ("take", {"agent": "U0MINH"}, "agent"),
    ("", {"note": "x"}, "note"),  # PATCH
    ("", {"assignee": "U0MINH"}, "assignee"),  # PATCH
]


@pytest.mark.parametrize("text", BAD_TEXT[::2])
@pytest.mark.parametrize(
    ("action", "body", "field"),
    OTHER_BODIES,
    ids=[f"{a or 'patch'}-{f}" for a, _, f in OTHER_BODIES],
)
async def test_every_other_body_refuses_unstorable_text(
    env: Env, action: str, body: dict[str, Any], field: str, text: str
) -> None:
    esc_id = await _taken(env)
    before = await env.counts()
    sent = json.loads(json.dumps(body))
    _set(sent, field, text)
    detail = f"/v1/escalations/{esc_id}"
    path = f"{detail}/{action}" if action else detail
    response = await env.client.request(
        "PATCH" if not action else "POST",
        path,
        content=raw(sent),
        headers={**env.auth, "content-type": "application/json"},
    )
    assert_refused(response, field)
    explained = "NUL" if NUL in text else "lone surrogate"  # what to fix, not a parse error
    assert explained in response.json()["error"]["message"]
    assert await env.counts() == before
    assert (await env.client.get(detail, headers=env.auth)).is_success


# --- context depth ------------------------------------------------------------------------


def _nested(levels: int) -> dict[str, Any]:
    """A ``context`` that is ``levels`` objects deep, itself the first."""
    inner: dict[str, Any] = {"leaf": "here"}
    for _ in range(levels - 2):
        inner = {"n": inner}
    return {"memory": inner}


async def test_context_32_levels_deep_is_kept_whole(env: Env) -> None:
    response = await post_raw(env, "/v1/escalations", escalation_body(context=_nested(32)))
    assert response.status_code == 201, response.text
    detail = await env.client.get(f"/v1/escalations/{response.json()['id']}", headers=env.auth)
    assert detail.json()["context"]["memory"] == _nested(32)["memory"]


@pytest.mark.parametrize("levels", [33, 256, 600])
async def test_context_deeper_than_32_levels_is_refused(env: Env, levels: int) -> None:
    before = await env.counts()
    response = await post_raw(env, "/v1/escalations", escalation_body(context=_nested(levels)))
    assert_refused(response, "context")
    assert "at most 32" in response.json()["error"]["message"]
    assert await env.counts() == before


async def test_deep_arrays_count_as_levels_too(env: Env) -> None:
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    response = await post_raw(
        env, "/v1/escalations", escalation_body(context={"tool_calls": [deep]})
    )
    assert_refused(response, "context")


# --- cursors ------------------------------------------------------------------------------


def _cursor(decoded: bytes) -> str:
    return base64.urlsafe_b64encode(decoded).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(_cursor(b"esc_\x00"), id="decodes-to-nul"),
        pytest.param(_cursor(b"esc_01M94G7CVY2BAXZSBHABSR41W\x00"), id="id-with-nul"),
        pytest.param(_cursor(b"esc_' OR 1=1 --"), id="not-an-id"),
        pytest.param(_cursor("esc_ünïcode".encode()), id="unicode"),
        pytest.param(_cursor(b"\xff\xfe"), id="not-utf8"),
        pytest.param("%%%", id="not-base64"),
        pytest.param(_cursor(b"msg_01M94G7CVY2BAXZSBHABSR41WT"), id="another-kind-of-id"),
    ],
)
async def test_a_cursor_not_given_out_is_422(env: Env, cursor: str) -> None:
    response = await env.client.get("/v1/escalations", params={"cursor": cursor}, headers=env.auth)
    assert_refused(response, "cursor")


async def test_the_cursors_given_out_still_page_through_everything(env: Env) -> None:
    made = [(await env.create())["id"] for _ in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await env.client.get("/v1/escalations", params=params, headers=env.auth)).json()
        seen += [e["id"] for e in page["data"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == made[::-1]
