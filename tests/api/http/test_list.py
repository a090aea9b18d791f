"""GET /v1/escalations: filters, search and cursor pagination, newest first."""

from typing import Any

from tests.conftest import Env


async def _list(env: Env, **params: Any) -> Any:
    return await env.client.get("/v1/escalations", params=params, headers=env.auth)


async def test_newest_first_with_a_cursor_through_every_page(env: Env) -> None:
    created = [(await env.create())["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await _list(env, **params)).json()
        seen += [e["id"] for e in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_filters(env: Env) -> None:
    a = await env.create(priority="urgent", channel="widget")
    b = await env.create(priority="low", channel="whatsapp")
    c = await env.create(priority="low", channel="whatsapp")
    await env.client.post(
        f"/v1/escalations/{b['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    await env.client.post(
        f"/v1/escalations/{c['id']}/return", json={"agent": "U0MINH"}, headers=env.auth
    )

    async def ids(**params: Any) -> set[str]:
        return {e["id"] for e in (await _list(env, **params)).json()["data"]}

    assert await ids(status="queued") == {a["id"]}
    assert await ids(status="taken") == {b["id"]}
    assert await ids(status="returned") == {c["id"]}
    assert await ids(status="active") == {a["id"], b["id"]}
    assert await ids(priority="low") == {b["id"], c["id"]}
    assert await ids(channel="widget") == {a["id"]}
    assert await ids(assignee="U0MINH") == {b["id"]}
    assert await ids(conversation_id=a["conversation_id"]) == {a["id"]}
    assert await ids(status="closed") == set()


async def test_search_finds_words_in_messages_and_the_reason(env: Env) -> None:
    refund = await env.create(
        transcript=[{"role": "customer", "content": "I want a REFUND for order 42"}],
        reason_detail="angry",
    )
    gate = await env.create(transcript=[], reason_detail="unverified claims about 100%_sure")
    later = await env.create(transcript=[], reason_detail=None)
    await env.client.post(
        f"/v1/escalations/{later['id']}/messages",
        json={"content": "where is my refund?"},
        headers=env.auth,
    )

    async def found(q: str) -> set[str]:
        return {e["id"] for e in (await _list(env, q=q)).json()["data"]}

    assert await found("refund") == {refund["id"], later["id"]}
    assert await found("unverified") == {gate["id"]}
    assert await found("100%_") == {gate["id"]}
    assert await found("%") == {gate["id"]}  # wildcards are searched literally
    assert await found("nothing like this") == set()


async def test_bad_list_parameters_are_named(env: Env) -> None:
    for params, field in [
        ({"status": "open"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"priority": "asap"}, "priority"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ]:
        response = await _list(env, **params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_error"
        assert field in [d["field"] for d in response.json()["error"]["details"]], params


async def test_the_detail_of_an_unknown_id_is_404(env: Env) -> None:
    response = await env.client.get("/v1/escalations/esc_nope", headers=env.auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "esc_nope" in response.json()["error"]["message"]
