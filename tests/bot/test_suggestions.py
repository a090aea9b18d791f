"""The bot's suggested reply in the card's thread: its owner sends it as it is (Send) or
edited (Edit and send), once however often it is clicked; anyone else is told who owns it,
and a suggestion whose escalation ended shows so and goes nowhere."""

import asyncio
import copy
from typing import Any

from api.demo.slack_standin import StoredMessage
from blocks.ids import Action, Input
from tests.bot.conftest import ANN, BOB, SlackEnv, eventually

DRAFT = "Your refund of 120 000 ₫ is on its way & should arrive <3 days."


async def _suggest(senv: SlackEnv, esc_id: str, content: str = DRAFT) -> str:
    response = await senv.client.post(
        f"/v1/escalations/{esc_id}/suggestions", json={"content": content}, headers=senv.env.auth
    )
    assert response.status_code == 201, response.text
    await senv.deliver()
    return str(response.json()["id"])


async def _post(senv: SlackEnv, esc_id: str) -> StoredMessage:
    (post,) = [m for m in await senv.replies(esc_id) if "suggests a reply" in str(m.blocks)]
    return post


def _buttons(post: StoredMessage) -> list[str]:
    return [e["action_id"] for b in post.blocks if b["type"] == "actions" for e in b["elements"]]


async def _messages(senv: SlackEnv, esc_id: str) -> list[dict[str, Any]]:
    events = await senv.env.platform_events(esc_id)
    return [e["data"]["message"] for e in events if e["type"] == "escalation.message"]


async def _click(senv: SlackEnv, post: StoredMessage, user: str, action_id: str) -> None:
    click = senv.signer.block_action_on(post, user=user, action_id=action_id)
    assert (await senv.send(click)).status_code == 200


async def test_the_owner_sends_it_once_however_often_they_click(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    sug_id = await _suggest(slack_env, esc_id)
    post = await _post(slack_env, esc_id)
    assert _buttons(post) == [Action.SEND_SUGGESTION, Action.EDIT_SUGGESTION]
    assert "&amp; should arrive &lt;3 days" in str(post.blocks)

    await asyncio.gather(*(_click(slack_env, post, ANN, Action.SEND_SUGGESTION) for _ in range(2)))

    async def sent() -> list[dict[str, Any]]:
        return await _messages(slack_env, esc_id)

    (message,) = await eventually(sent, what="the suggestion relayed")
    assert (message["content"], message["suggestion_id"]) == (DRAFT, sug_id)
    assert message["agent"]["id"] == ANN
    told = await eventually(lambda: slack_env.ephemerals(ANN), what="the second click told")
    assert "sent to the customer already" in told[-1]
    await slack_env.deliver()
    post = await _post(slack_env, esc_id)
    assert _buttons(post) == [] and f"Sent to the customer by <@{ANN}>" in str(post.blocks)
    assert len(await _messages(slack_env, esc_id)) == 1


async def test_someone_else_is_told_who_owns_it_and_nothing_is_sent(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await _suggest(slack_env, esc_id)
    post = await _post(slack_env, esc_id)
    for action in (Action.SEND_SUGGESTION, Action.EDIT_SUGGESTION):
        await _click(slack_env, post, BOB, action)
    told = await eventually(
        lambda: len(slack_env.ephemerals(BOB)) == 2 and slack_env.ephemerals(BOB)
    )
    assert all(f"Only the owner, <@{ANN}>" in t for t in told)
    assert slack_env.slack.views == {}
    await slack_env.deliver()
    assert await _messages(slack_env, esc_id) == []
    assert _buttons(await _post(slack_env, esc_id)) == [
        Action.SEND_SUGGESTION,
        Action.EDIT_SUGGESTION,
    ]


async def test_edit_and_send_relays_the_owners_words(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    sug_id = await _suggest(slack_env, esc_id)
    await _click(slack_env, await _post(slack_env, esc_id), ANN, Action.EDIT_SUGGESTION)
    (view,) = await eventually(lambda: list(slack_env.slack.views.values()), what="the modal")
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["element"]["initial_value"] == DRAFT
    edited = "Your refund is on its way: 3 days at most."
    values = {
        Input.SUGGESTION_TEXT: {
            Input.SUGGESTION_TEXT: {"type": "plain_text_input", "value": edited}
        }
    }
    await slack_env.send(slack_env.signer.view_submission_for(view, user=ANN, values=values))

    async def sent() -> list[dict[str, Any]]:
        return await _messages(slack_env, esc_id)

    (message,) = await eventually(sent, what="the edited suggestion relayed")
    assert (message["content"], message["suggestion_id"]) == (edited, sug_id)


async def test_a_suggestion_of_an_ended_escalation_shows_so_and_goes_nowhere(
    slack_env: SlackEnv,
) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await _suggest(slack_env, esc_id)
    stale = copy.deepcopy(await _post(slack_env, esc_id))
    closed = await slack_env.client.post(
        f"/v1/escalations/{esc_id}/close",
        json={"agent": ANN, "resolution": "resolved"},
        headers=slack_env.env.auth,
    )
    assert closed.status_code == 200
    await slack_env.deliver()
    post = await _post(slack_env, esc_id)
    assert _buttons(post) == [] and "Not sent: the escalation is closed" in str(post.blocks)

    await _click(slack_env, stale, ANN, Action.SEND_SUGGESTION)  # from the post as it was
    told = await eventually(lambda: slack_env.ephemerals(ANN), what="Ann told")
    assert "it is closed" in told[-1]
    assert await _messages(slack_env, esc_id) == []


async def test_the_longest_suggestion_fits_slacks_limits_post_and_modal(
    slack_env: SlackEnv,
) -> None:
    """3,000 characters of right-to-left text, emoji and characters Slack escapes (which
    grow the text past a section's limit): the strict stand-in takes the post and the
    modal, and the text arrives whole."""
    longest = ("مرحبا 👩🏽‍💻 & <!channel> " * 200)[:3000]
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await _suggest(slack_env, esc_id, longest)
    post = await _post(slack_env, esc_id)
    assert _buttons(post) == [Action.SEND_SUGGESTION, Action.EDIT_SUGGESTION]
    assert "<!channel>" not in str(post.blocks)  # escaped: it pings nobody
    await _click(slack_env, post, ANN, Action.EDIT_SUGGESTION)
    (view,) = await eventually(lambda: list(slack_env.slack.views.values()), what="the modal")
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["element"]["initial_value"] == longest
    await _click(slack_env, post, ANN, Action.SEND_SUGGESTION)

    async def sent() -> list[dict[str, Any]]:
        return await _messages(slack_env, esc_id)

    (message,) = await eventually(sent, what="the suggestion relayed")
    assert message["content"] == longest
