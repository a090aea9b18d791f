"""Modals: what they show and offer, Block Kit limits, and reading what Slack submits."""

import json
from typing import Any

import pytest
from slack_sdk.models.views import View

from blocks.ids import Input
from blocks.ids import View as ViewId
from blocks.modals import (
    close_modal,
    priority_modal,
    read_assignee,
    read_close,
    read_priority,
    read_reply,
    reassign_modal,
    reply_modal,
)
from storage.models import Escalation, Priority, Resolution, Status
from tests.blocks.models import EVIL, escalation

SAFE_EVIL = "&lt;!channel&gt; &lt;https://evil.example|your bank&gt; &amp; &lt;@U0BOSS&gt;"
METADATA = json.dumps({"esc": "esc_01TEST", "channel": "C111", "ts": "1700000000.000100"})


ALL_MODALS = [
    lambda esc, meta: reply_modal(esc, meta),
    lambda esc, meta: close_modal(esc, meta),
    lambda esc, meta: reassign_modal(esc, meta, [("U0ANN", EVIL), (EVIL, EVIL)]),
    lambda esc, meta: priority_modal(esc, meta),
]
NAMES = ["reply", "close", "reassign", "priority"]


def _inputs(view: View) -> dict[str, dict[str, Any]]:
    """Input blocks by block_id, each with its element."""
    return {b["block_id"]: b for b in view.to_dict()["blocks"] if b["type"] == "input"}


def _submitted(block_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` as Slack sends it for one input."""
    return {block_id: {block_id: state}}


@pytest.mark.parametrize("build", ALL_MODALS, ids=NAMES)
def test_customer_text_in_a_modal_can_neither_ping_nor_link(build) -> None:
    esc = _escalation(
        customer={"id": "c", "name": EVIL},
        channel=EVIL,
        reason=EVIL,
        last_message_preview=EVIL,
    )
    rendered = json.dumps(build(esc, METADATA).to_dict(), ensure_ascii=False)
    for dangerous in ("<!channel>", "<https://evil.example", "<@U0BOSS>"):
        assert dangerous not in rendered
    assert SAFE_EVIL in rendered


@pytest.mark.parametrize("build", ALL_MODALS, ids=NAMES)
def test_each_input_answers_under_one_id(build) -> None:
    inputs = _inputs(build(_escalation(), METADATA))
    assert inputs
    for block_id, block in inputs.items():
        assert block_id == block["element"]["action_id"] and block_id in set(Input)


@pytest.mark.parametrize("build", ALL_MODALS, ids=NAMES)
def test_any_input_size_fits_and_metadata_passes_through(build) -> None:
    metadata = "m" * 3000
    esc = _escalation(
        customer={"id": "c" * 5000, "name": "&" * 100_000},
        channel="<" * 10_000,
        reason_detail="x" * 100_000,
        last_message_preview="&<>\n" * 50_000,
        assignee_id="U" + "A" * 5000,
    )
    view = build(esc, metadata).to_dict()  # slack_sdk checks title, blocks, metadata here
    assert view["private_metadata"] == metadata
    assert view["type"] == "modal" and 1 <= len(view["blocks"]) <= 100
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    for block in view["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    assert len(json.dumps(view)) < 250_000


def test_the_reply_modal_shows_who_and_what_they_said_last() -> None:
    view = reply_modal(_escalation(), METADATA).to_dict()
    assert view["callback_id"] == ViewId.REPLY
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == (
        "Reply to customer",
        "Send",
        "Cancel",
    )
    about = view["blocks"][0]["text"]["text"]
    assert "*Nguyen Van A* · whatsapp" in about
    assert ">Tôi muốn khiếu nại..." in about
    element = _inputs(reply_modal(_escalation(), METADATA))[Input.REPLY_TEXT]["element"]
    assert element == {
        "type": "plain_text_input",
        "action_id": Input.REPLY_TEXT,
        "multiline": True,
        "focus_on_load": True,
    }


def test_the_close_modal_offers_every_resolution_a_note_and_keeping_the_ai_paused() -> None:
    view = close_modal(_escalation(), METADATA)
    as_dict = view.to_dict()
    assert as_dict["callback_id"] == ViewId.CLOSE and as_dict["submit"]["text"] == "Close"
    inputs = _inputs(view)
    select = inputs[Input.RESOLUTION]["element"]
    assert [o["value"] for o in select["options"]] == [r.value for r in Resolution]
    assert select["initial_option"]["value"] == "resolved"
    assert "No response from the customer" in [o["text"]["text"] for o in select["options"]]
    assert inputs[Input.CLOSE_NOTE]["optional"] is True
    assert inputs[Input.CLOSE_NOTE]["element"]["multiline"] is True
    keep = inputs[Input.KEEP_PAUSED]["element"]
    assert keep["type"] == "checkboxes"
    assert [o["text"]["text"] for o in keep["options"]] == [
        "Keep the AI paused for this conversation"
    ]
    assert "initial_options" not in keep
    paused = _inputs(close_modal(_escalation(keep_ai_paused=True), METADATA))
    assert paused[Input.KEEP_PAUSED]["element"]["initial_options"] == keep["options"]


def test_the_reassign_modal_starts_from_the_owner_and_names_channel_members() -> None:
    members = [(f"U{i:04d}", f"Agent {i}") for i in range(30)]
    view = reassign_modal(_escalation(), METADATA, members).to_dict()
    assert view["callback_id"] == ViewId.REASSIGN
    assert view["title"]["text"] == "Reassign"
    select = next(b for b in view["blocks"] if b.get("block_id") == Input.ASSIGNEE)["element"]
    assert select["type"] == "users_select" and select["initial_user"] == "U0MINH"
    context = next(b for b in view["blocks"] if b["type"] == "context")["elements"][0]["text"]
    assert context.startswith("Members of the channel: <@U0000>, <@U0001>")
    assert "<@U0019>" in context and "<@U0020>" not in context
    assert context.endswith("…and 10 more")


def test_a_queued_escalation_is_assigned_and_an_api_owner_is_not_preselected() -> None:
    queued = reassign_modal(_escalation(status=Status.queued, assignee_id=None), METADATA)
    as_dict = queued.to_dict()
    assert as_dict["title"]["text"] == "Assign"
    assert not any(b["type"] == "context" for b in as_dict["blocks"])
    assert "initial_user" not in _inputs(queued)[Input.ASSIGNEE]["element"]
    api_owner = reassign_modal(_escalation(assignee_id="agent_7"), METADATA)
    assert "initial_user" not in _inputs(api_owner)[Input.ASSIGNEE]["element"]


def test_the_priority_modal_starts_from_the_current_priority() -> None:
    view = priority_modal(_escalation(priority=Priority.low), METADATA)
    assert view.to_dict()["callback_id"] == ViewId.PRIORITY
    select = _inputs(view)[Input.PRIORITY]["element"]
    assert [o["value"] for o in select["options"]] == ["urgent", "high", "medium", "low"]
    assert select["initial_option"]["value"] == "low"
    assert select["options"][0]["text"]["text"] == ":red_circle: Urgent"


def test_reading_a_reply() -> None:
    values = _submitted(Input.REPLY_TEXT, {"type": "plain_text_input", "value": "  On it!\n"})
    assert read_reply(values) == "On it!"


@pytest.mark.parametrize("value", [None, "", " \n "])
def test_reading_an_empty_reply(value: str | None) -> None:
    values = _submitted(Input.REPLY_TEXT, {"type": "plain_text_input", "value": value})
    assert read_reply(values) == ""
    assert read_reply({}) == ""


def _close_values(resolution: str | None, note: str | None, keep: bool) -> dict[str, Any]:
    selected = {"text": {"type": "plain_text", "text": "x"}, "value": resolution}
    # The ids come from the modal itself, as Slack echoes them.
    res, note_id, keep_id = _inputs(close_modal(_escalation(), METADATA))
    return {
        res: {res: {"type": "static_select", "selected_option": selected if resolution else None}},
        note_id: {note_id: {"type": "plain_text_input", "value": note}},
        keep_id: {
            keep_id: {
                "type": "checkboxes",
                "selected_options": [{"value": Input.KEEP_PAUSED.value}] if keep else [],
            }
        },
    }


def test_reading_a_close() -> None:
    assert read_close(_close_values("spam", " Reported twice ", True)) == (
        Resolution.spam,
        "Reported twice",
        True,
    )
    assert read_close(_close_values("no_response", None, False)) == (
        Resolution.no_response,
        None,
        False,
    )
    assert read_close(_close_values("duplicate", "   ", False))[1] is None


def test_reading_a_close_without_a_choice_falls_back_to_resolved() -> None:
    assert read_close(_close_values(None, None, False)) == (Resolution.resolved, None, False)
    assert read_close(_close_values("made_up", None, False))[0] == Resolution.resolved
    assert read_close({}) == (Resolution.resolved, None, False)


def test_reading_an_assignee() -> None:
    values = _submitted(Input.ASSIGNEE, {"type": "users_select", "selected_user": "U0ANN"})
    assert read_assignee(values) == "U0ANN"
    none = _submitted(Input.ASSIGNEE, {"type": "users_select", "selected_user": None})
    assert read_assignee(none) is None
    assert read_assignee({}) is None


def test_reading_a_priority() -> None:
    chosen = {"type": "static_select", "selected_option": {"value": "urgent"}}
    assert read_priority(_submitted(Input.PRIORITY, chosen)) is Priority.urgent
    missing = {"type": "static_select", "selected_option": None}
    assert read_priority(_submitted(Input.PRIORITY, missing)) is None
    unknown = {"type": "static_select", "selected_option": {"value": "whenever"}}
    assert read_priority(_submitted(Input.PRIORITY, unknown)) is None
    assert read_priority({}) is None


def _escalation(**overrides: object) -> Escalation:
    taken = {"status": Status.taken, "assignee_id": "U0MINH", "assignee_name": "Minh"}
    return escalation(**{**taken, **overrides})
