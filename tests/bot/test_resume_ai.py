"""The card of an escalation closed with the AI kept paused says so and offers Resume AI;
a click hands the conversation back to the AI once, and the card then says who did."""

import copy

from blocks.ids import Action
from tests.bot.conftest import ANN, BOB, SlackEnv, eventually


async def test_resume_ai_from_the_card_once(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    closed = await slack_env.client.post(
        f"/v1/escalations/{esc_id}/close",
        json={"agent": ANN, "resolution": "resolved", "keep_ai_paused": True},
        headers=slack_env.env.auth,
    )
    assert closed.status_code == 200
    await slack_env.deliver()
    card = (await slack_env.card(esc_id)).blocks
    (actions,) = [b for b in card if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [Action.RESUME_AI]
    assert "The AI stays paused" in str(card)

    stale = copy.deepcopy(await slack_env.card(esc_id))
    await slack_env.click(esc_id, BOB, Action.RESUME_AI)

    async def resumed() -> bool:
        return "escalation.ai_resumed" in await slack_env.platform_events(esc_id)

    await eventually(resumed, what="escalation.ai_resumed")
    await slack_env.deliver()
    card = (await slack_env.card(esc_id)).blocks
    assert not [b for b in card if b["type"] == "actions"]
    assert f"*AI resumed* by <@{BOB}>" in str(card)

    # A second click (from a card not yet updated, say) changes nothing, and says why.
    click = slack_env.signer.block_action_on(stale, user=ANN, action_id=Action.RESUME_AI)
    assert (await slack_env.send(click)).status_code == 200
    told = await eventually(lambda: slack_env.ephemerals(ANN), what="Ann told")
    assert "resumed already" in told[-1]
    assert (await slack_env.platform_events(esc_id)).count("escalation.ai_resumed") == 1
