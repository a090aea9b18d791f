"""The customer's rating shows in the card's thread, with their comment, and as stars on
the card; a later rating is posted too, and the card shows the latest."""

from tests.bot.conftest import ANN, SlackEnv


async def test_a_rating_shows_in_the_thread_and_on_the_card(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    path = f"/v1/escalations/{esc_id}"
    auth = slack_env.env.auth
    closed = await slack_env.client.post(
        f"{path}/close", json={"agent": ANN, "resolution": "resolved"}, headers=auth
    )
    assert closed.status_code == 200
    for body in ({"score": 2, "comment": "Took <b>ages</b> & then some"}, {"score": 4}):
        rated = await slack_env.client.post(f"{path}/rating", json=body, headers=auth)
        assert rated.status_code == 200
    await slack_env.deliver()

    posts = [str(m.blocks) for m in await slack_env.replies(esc_id) if "rated this" in m.text]
    assert len(posts) == 2
    assert ":star::star::white_small_square:" in posts[0] and "rated this 2/5" in posts[0]
    assert "Took &lt;b&gt;ages&lt;/b&gt; &amp; then some" in posts[0]
    assert "rated this 4/5" in posts[1]
    card = str((await slack_env.card(esc_id)).blocks)
    assert ":star:" * 4 + ":white_small_square: *Customer rating* 4/5" in card
