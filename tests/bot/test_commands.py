"""``/escalations`` through the real app: each sub-command answers ephemerally, in the
acknowledgement, with entries whose buttons work."""

import json
import time
from typing import Any

from blocks.ids import Action
from tests.bot.conftest import ANN, BOB, CHANNEL, CHI, SlackEnv, eventually


async def command(senv: SlackEnv, user: str, text: str) -> dict[str, Any]:
    """What Slack shows ``user`` after they type ``/escalations TEXT``."""
    started = time.monotonic()
    response = await senv.send(senv.signer.escalations(user=user, text=text))
    assert time.monotonic() - started < 3, "Slack gives up after 3 seconds"
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["response_type"] == "ephemeral"  # only the one who asked sees it
    return answer


def shown(answer: dict[str, Any]) -> str:
    return json.dumps(answer.get("blocks", []), ensure_ascii=False)


def names(answer: dict[str, Any]) -> list[str]:
    return [
        b["text"]["text"].split("*")[1]
        for b in answer.get("blocks", [])
        if b["type"] == "section" and " · " in b["text"]["text"]
    ]


def buttons(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for b in answer.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def customer(name: str) -> dict[str, Any]:
    return {"id": f"cust_{name.lower()}", "name": name}


async def test_mine_lists_what_the_user_owns(slack_env: SlackEnv) -> None:
    mine = await slack_env.escalate(customer=customer("Minh"))
    theirs = await slack_env.escalate(customer=customer("Tuan"))
    await slack_env.take(mine, ANN)
    await slack_env.take(theirs, BOB)

    answer = await command(slack_env, ANN, "mine")
    assert "Your queue* (1)" in shown(answer)
    assert names(answer) == ["Minh"]
    assert buttons(answer) == [(Action.OPEN_THREAD, mine)]  # already hers: open the thread

    assert names(await command(slack_env, CHI, "MINE")) == []
    assert "Nothing is assigned to you" in (await command(slack_env, CHI, "mine"))["text"]


async def test_waiting_lists_oldest_first_with_take_buttons_that_work(
    slack_env: SlackEnv,
) -> None:
    first = await slack_env.escalate(customer=customer("Quynh"))
    second = await slack_env.escalate(customer=customer("Wendy"), priority="urgent")
    taken = await slack_env.escalate(customer=customer("Tuan"))
    await slack_env.take(taken, BOB)

    answer = await command(slack_env, ANN, "waiting")
    assert "Waiting, oldest first* (2)" in shown(answer)
    assert names(answer) == ["Quynh", "Wendy"]
    assert (Action.TAKE, first) in buttons(answer) and (Action.TAKE, second) in buttons(answer)

    # Take from the ephemeral answer: Slack sends the click with no message.
    click = slack_env.signer.block_action(
        user=ANN,
        action_id=Action.TAKE,
        value=second,
        channel=CHANNEL,
        message_ts="1700000000.000100",
        is_ephemeral=True,
    )
    assert (await slack_env.send(click)).status_code == 200
    await eventually(lambda: _owned_by(slack_env, second, ANN), what="Ann's take")
    assert names(await command(slack_env, ANN, "waiting")) == ["Quynh"]


async def _owned_by(senv: SlackEnv, esc_id: str, user: str) -> bool:
    return await senv.owner(esc_id) == user


async def test_waiting_says_so_when_nobody_waits(slack_env: SlackEnv) -> None:
    answer = await command(slack_env, ANN, "waiting")
    assert answer["text"] == "Nobody is waiting. :tada:"


async def test_search_finds_customer_and_agent_messages_names_and_reasons(
    slack_env: SlackEnv,
) -> None:
    order = await slack_env.escalate(customer=customer("Lan"), reason="customer_request")
    other = await slack_env.escalate(
        customer=customer("Quang"), reason="keyword", reason_detail="said: cancel"
    )
    response = await slack_env.client.post(
        f"/v1/escalations/{order}/messages",
        json={"role": "customer", "content": "Đơn hàng ORD-7731 bị trừ tiền hai lần"},
        headers=slack_env.env.auth,
    )
    assert response.status_code == 201, response.text
    await slack_env.take(other, BOB)
    await slack_env.say(other, BOB, "Refund approved, the money is on its way")
    await eventually(lambda: _has_agent_message(slack_env, other), what="Bob's reply")

    hit = await command(slack_env, ANN, "search ord-7731")
    assert names(hit) == ["Lan"]
    assert ">Customer: Đơn hàng ORD-7731 bị trừ tiền hai lần" in shown(hit)  # what matched
    assert (Action.TAKE, order) in buttons(hit)

    assert names(await command(slack_env, ANN, "search refund APPROVED")) == ["Quang"]
    assert names(await command(slack_env, ANN, "search quang")) == ["Quang"]  # the name
    assert names(await command(slack_env, ANN, "search cancel")) == ["Quang"]  # the detail
    assert names(await command(slack_env, ANN, "search keyword")) == ["Quang"]  # the reason
    assert names(await command(slack_env, ANN, "search customer request")) == ["Lan"]


async def _has_agent_message(senv: SlackEnv, esc_id: str) -> bool:
    response = await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)
    return any(m["role"] == "agent" for m in response.json().get("messages", []))


async def test_search_misses_cleanly_and_treats_wildcards_as_text(slack_env: SlackEnv) -> None:
    await slack_env.escalate(customer=customer("Lan"))
    nothing = await command(slack_env, ANN, "search %%")  # not "anything" to SQL
    assert nothing["text"] == "Nothing found for “%%”."
    odd = await command(slack_env, ANN, "search <!channel> zzz")
    assert "<!channel>" not in json.dumps(odd)  # what was typed is shown, harmless
    assert "&lt;!channel&gt; zzz" in odd["text"]
    asks = await command(slack_env, ANN, "search")
    assert "What should I look for?" in asks["text"]


async def test_help_and_unknown_sub_commands(slack_env: SlackEnv) -> None:
    for text in ("", "help", "HELP"):
        answer = await command(slack_env, ANN, text)
        assert "`/escalations search TEXT`" in shown(answer)

    unknown = await command(slack_env, ANN, "frobnicate now")
    assert "I don't know `/escalations frobnicate now`" in shown(unknown)
    assert "`mine`, `waiting`, `search TEXT` or `help`" in shown(unknown)
