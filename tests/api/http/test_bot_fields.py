"""What the bot adds to an escalation (its summary, the customer's phone, picture and
attributes) is kept and answered back; what does not fit is refused naming the field, and
nothing is created."""

from typing import Any

import pytest

from tests.api.http.test_unstorable_text import assert_refused
from tests.conftest import Env, escalation_body

CUSTOMER = {
    "id": "cust_19",
    "name": "Nguyen Van A",
    "phone": "+84 90 123 4567",
    "locale": "vi",
    "avatar_url": "https://cdn.example.com/a.png",
    "attributes": {"plan": "gold", "city": "Đà Nẵng"},
}


async def test_the_summary_and_the_customers_details_are_kept(env: Env) -> None:
    summary = "Charged twice for order 8842; wants a refund. 👍" * 60  # 2,940 characters
    esc = await env.create(summary=summary, customer=CUSTOMER, confidence=35)
    assert esc["summary"] == summary
    assert esc["customer"] == {**CUSTOMER, "email": None}
    detail = (await env.client.get(f"/v1/escalations/{esc['id']}", headers=env.auth)).json()
    assert (detail["summary"], detail["customer"]["attributes"]) == (
        summary,
        CUSTOMER["attributes"],
    )


async def test_without_them_an_escalation_is_as_before(env: Env) -> None:
    esc = await env.create()
    assert esc["summary"] is None
    assert esc["customer"]["attributes"] == {} and esc["customer"]["phone"] is None


REFUSED: list[Any] = [
    pytest.param({"summary": "s" * 3001}, "summary", id="summary-3001"),
    pytest.param({"summary": 42}, "summary", id="summary-number"),
    pytest.param(
        {"customer": {**CUSTOMER, "avatar_url": "http://cdn.example.com/a.png"}},
        "customer.avatar_url",
        id="avatar-http",
    ),
    pytest.param(
        {"customer": {**CUSTOMER, "avatar_url": "javascript:alert(1)"}},
        "customer.avatar_url",
        id="avatar-javascript",
    ),
    pytest.param(
        {"customer": {**CUSTOMER, "attributes": {f"k{n}": "v" for n in range(51)}}},
        "customer.attributes",
        id="51-attributes",
    ),
    pytest.param(
        {"customer": {**CUSTOMER, "attributes": {"plan": {"tier": "gold"}}}},
        "customer.attributes.plan",
        id="nested-attribute",
    ),
    pytest.param(
        {"customer": {**CUSTOMER, "attributes": {"visits": 3}}},
        "customer.attributes.visits",
        id="number-attribute",
    ),
    pytest.param(
        {"customer": {**CUSTOMER, "attributes": {"": "empty name"}}},
        "customer.attributes",
        id="empty-attribute-name",
    ),
    pytest.param({"customer": {**CUSTOMER, "phone": "9" * 51}}, "customer.phone", id="phone-51"),
]


@pytest.mark.parametrize(("fields", "field"), REFUSED)
async def test_what_does_not_fit_is_refused_naming_the_field(
    env: Env, fields: dict[str, Any], field: str
) -> None:
    before = await env.counts()
    response = await env.client.post(
        "/v1/escalations", json=escalation_body(**fields), headers=env.auth
    )
    assert_refused(response, field)
    assert await env.counts() == before
