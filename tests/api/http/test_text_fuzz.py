"""Random Unicode, lone surrogates and control characters included, in every text field of
a create and of a customer message, sent as raw JSON to the real app on SQLite and
PostgreSQL: the answer is 201 or 422 naming a field, never a 500; text that cannot be stored
is always refused; and what was accepted reads back exactly as it was sent.

Each body is drawn from any Unicode a string can hold, then one of its strings (a value or
a key, anywhere) is swapped for text drawn from every category, surrogates included, so
that a single bad string in an otherwise good body is tried in every place.
"""

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Env

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same requests every run
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a client may send and Baton must keep: every character that is not a surrogate,
# control characters, right-to-left marks and emoji drawn often.
_GOOD_CHARACTERS = st.characters(
    codec=None, exclude_categories=["Cs"], exclude_characters="\x00"
) | st.sampled_from(["\x01", "\x1b", "\x7f", "\u202e", "\ufeff", "😀", "\U0001f3fd", "\n", "&"])
TEXT = st.text(_GOOD_CHARACTERS, max_size=25)
IDENT = st.text(_GOOD_CHARACTERS, min_size=1, max_size=25)  # where empty text is refused
URL = st.text(st.characters(categories=["L", "N"]), max_size=10).map(
    lambda path: "https://files.example.com/" + path
)
# Text from every category, surrogates included; half of it holds a lone surrogate or a NUL
# somewhere among good characters.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=25) | (
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        TEXT,
        st.sampled_from(["\ud83d", "\ude00", "\x00"]) | st.characters(categories=["Cs"]),
        TEXT,
    )
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


ATTACHMENTS = st.lists(
    st.fixed_dictionaries(
        {"url": URL},
        optional={"name": optional(TEXT), "mime_type": optional(TEXT)},
    ),
    max_size=2,
)
CREATE_BODIES = st.fixed_dictionaries(
    {
        "conversation_id": IDENT,
        "customer": st.fixed_dictionaries(
            {},
            optional={
                "id": optional(IDENT),
                "name": optional(TEXT),
                "email": optional(TEXT),
                "locale": optional(TEXT),
            },
        ),
        "reason": st.sampled_from(["gate_failure", "customer_request"]),
        "transcript": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["customer", "assistant", "agent", "system"]),
                    "content": TEXT,
                },
                optional={"attachments": ATTACHMENTS},
            ),
            max_size=4,
        ),
        "context": st.fixed_dictionaries(
            {},
            optional={
                "memory": st.dictionaries(TEXT, JSON_VALUES, max_size=3),
                "tags": st.lists(TEXT, max_size=3),
                "gate_audit": st.lists(JSON_VALUES, max_size=2),
                "tool_calls": st.lists(JSON_VALUES, max_size=2),
            },
        ),
    },
    optional={
        "channel": optional(IDENT),
        "reason_detail": optional(TEXT),
        "assign_to": optional(IDENT),
    },
)
MESSAGE_BODIES = st.fixed_dictionaries(
    {"content": TEXT},
    optional={
        "role": st.sampled_from(["customer", "assistant", "system"]),
        "external_id": optional(IDENT),
        "attachments": ATTACHMENTS,
    },
)
# Which string to swap (counted round the body's strings), and for what.
SWAPS = st.tuples(st.integers(min_value=0, max_value=1_000), ANY_TEXT)


FREE_FORM = {"memory", "gate_audit", "tool_calls"}  # any JSON: its keys are text too
ENUMS = {"role", "reason"}  # not text: a value from a list


def _strings(value: Any, free: bool = False) -> list[tuple[Any, Any, bool]]:
    """Every text of ``value`` as (container, key or index, is it the key itself): values
    anywhere, and the keys of free-form JSON."""
    found: list[tuple[Any, Any, bool]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if free and isinstance(value, dict):
            found.append((value, key, True))
        if isinstance(item, str) and key not in ENUMS:
            found.append((value, key, False))
        elif isinstance(item, dict | list):
            found += _strings(item, free or key in FREE_FORM)
    return found


def _swap(body: dict[str, Any], swap: tuple[int, str]) -> str | None:
    """Swap one text of ``body`` for the drawn one; returns it (None: there is no text)."""
    places = _strings(body)
    if not places:
        return None
    where, key, is_key = places[swap[0] % len(places)]
    if is_key:
        where[swap[1]] = where.pop(key)
    else:
        where[key] = swap[1]
    return swap[1]


def _unstorable(text: str | None) -> bool:
    return text is not None and ("\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text))


async def _post(env: Env, path: str, body: dict[str, Any]) -> Any:
    return await env.client.post(
        path,
        content=json.dumps(body).encode("ascii"),  # a lone surrogate travels as \ud83d
        headers={**env.auth, "content-type": "application/json"},
    )


def _assert_answered(response: Any, swapped: str | None) -> None:
    assert response.status_code in {201, 422}, response.text
    event(f"answered {response.status_code}, {'unstorable' if _unstorable(swapped) else 'fine'}")
    if _unstorable(swapped):
        assert response.status_code == 422, f"stored {swapped!r}: {response.text}"
    if response.status_code == 422:
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"] and all(d["field"] for d in error["details"])


@FUZZ
@given(body=CREATE_BODIES, swap=SWAPS)
async def test_create_answers_201_or_422_never_500(
    env: Env, body: dict[str, Any], swap: tuple[int, str]
) -> None:
    swapped = _swap(body, swap)
    body["conversation_id"] += f"/{uuid.uuid4().hex}"  # each example a conversation of its own
    response = await _post(env, "/v1/escalations", body)
    _assert_answered(response, swapped)
    if response.status_code != 201:
        return
    detail = await env.client.get(f"/v1/escalations/{response.json()['id']}", headers=env.auth)
    assert detail.status_code == 200, detail.text
    stored = detail.json()
    assert stored["conversation_id"] == body["conversation_id"]
    for key, value in body["customer"].items():
        assert stored["customer"][key] == value
    sent = [m["content"] for m in body["transcript"]]
    assert [m["content"] for m in stored["messages"]] == sent
    assert stored["context"]["tags"] == body["context"].get("tags", [])
    assert stored["context"]["memory"].keys() == body["context"].get("memory", {}).keys()


@FUZZ
@given(body=MESSAGE_BODIES, swap=SWAPS)
async def test_a_message_answers_201_or_422_never_500(
    env: Env, body: dict[str, Any], swap: tuple[int, str]
) -> None:
    esc = await env.create()
    swapped = _swap(body, swap)
    response = await _post(env, f"/v1/escalations/{esc['id']}/messages", body)
    _assert_answered(response, swapped)
    if response.status_code != 201:
        return
    detail = await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)
    assert detail.status_code == 200, detail.text
    assert detail.json()["messages"][-1]["content"] == body["content"]
