"""An operator's customer text that fails for one escalation (a customer without a name)
never blocks the transition: the customer gets the shipped default text, the failure is
logged once per template, and the start-up check refuses only what fails for a typical
escalation, warning about the rest."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from api.config import ConfigError, parse_config
from api.http.app import build_relay
from api.relay.platform import Relay
from storage.models import Platform
from tests.conftest import Env, start_env
from tests.receiver import Receiver

FIRST_NAME = "{{ customer.name.split()[0] }}"
TEMPLATES = {
    "created": "Hi " + FIRST_NAME + ", someone will be with you in {{ wait_minutes }} minutes.",
    "taken": "Hi " + FIRST_NAME + ", I'm {{ agent.name }}.",
    "returned": "Back to the assistant, " + FIRST_NAME + ".",
    "closed": "Goodbye " + FIRST_NAME + " ({{ resolution }}).",
}
# The shipped English texts, as they begin.
DEFAULTS = {
    "escalation.created": "I'm connecting you with a member of our team.",
    "escalation.taken": "Hi, I'm U0MINH. I've reviewed your conversation",
    "escalation.returned": "Thanks for your patience!",
    "escalation.closed": "Thanks for contacting us.",
}
AGENT = {"agent": "U0MINH"}


@pytest.fixture
async def templated(database_url: str, receiver: Receiver) -> AsyncIterator[tuple[Env, Relay]]:
    """The app with ``TEMPLATES`` configured, its platform a real receiver."""
    config = parse_config({"api": {"rate_limit": "0"}, "templates": TEMPLATES})
    env, lifespan = await start_env(database_url, config=config)
    receiver.secret = env.platform.webhook_secret
    async with env.db.write() as s:
        await s.execute(update(Platform).values(callback_url=receiver.url))
    relay = build_relay(env.services)
    try:
        yield env, relay
    finally:
        await relay.aclose()
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _act(env: Env, esc_id: str, action: str, **body: Any) -> None:
    response = await env.client.post(
        f"/v1/escalations/{esc_id}/{action}", json={**AGENT, **body}, headers=env.auth
    )
    assert response.status_code == 200, response.text


async def _lifecycle(env: Env, customer: dict[str, Any]) -> tuple[str, str]:
    """Two escalations of ``customer``: one taken and closed, one returned."""
    closed = await env.create(customer=customer)
    await _act(env, closed["id"], "take")
    await _act(env, closed["id"], "close", resolution="resolved")
    returned = await env.create(customer=customer)
    await _act(env, returned["id"], "return")
    return closed["id"], returned["id"]


def _texts(receiver: Receiver, *esc_ids: str) -> dict[str, str]:
    """What the platform was asked to show the customer, by event type."""
    return {
        r.body["type"]: r.body["data"]["customer_message"]
        for r in receiver.delivered()
        if r.body["data"]["escalation_id"] in esc_ids
    }


@pytest.mark.parametrize(
    "customer",
    [
        pytest.param({"id": "cust_1"}, id="no-name"),
        pytest.param({"id": "cust_1", "name": None, "locale": "en"}, id="name-null"),
        pytest.param({"id": "cust_1", "name": ""}, id="name-empty"),
        pytest.param({"id": "cust_1", "name": "   "}, id="name-only-spaces"),  # no sample has it
        pytest.param({}, id="no-customer-fields"),
    ],
)
async def test_a_failing_text_falls_back_and_every_transition_happens(
    templated: tuple[Env, Relay], receiver: Receiver, customer: dict[str, Any]
) -> None:
    env, relay = templated
    closed, returned = await _lifecycle(env, customer)
    await relay.drain()
    texts = {**_texts(receiver, closed), **_texts(receiver, returned)}
    assert set(texts) == set(DEFAULTS)
    for event_type, default in DEFAULTS.items():
        assert texts[event_type].startswith(default), (event_type, texts[event_type])
    assert all(r.verified for r in receiver.delivered())


async def test_a_customer_with_a_name_gets_the_operators_text(
    templated: tuple[Env, Relay], receiver: Receiver
) -> None:
    env, relay = templated
    closed, returned = await _lifecycle(env, {"id": "cust_2", "name": "Lan Nguyen"})
    await relay.drain()
    texts = {**_texts(receiver, closed), **_texts(receiver, returned)}
    assert texts["escalation.created"].startswith("Hi Lan, someone will be with you in")
    assert texts["escalation.taken"] == "Hi Lan, I'm U0MINH."
    assert texts["escalation.returned"] == "Back to the assistant, Lan."
    assert texts["escalation.closed"] == "Goodbye Lan (resolved)."


async def test_a_vietnamese_customer_without_a_name_gets_the_vietnamese_default(
    templated: tuple[Env, Relay], receiver: Receiver
) -> None:
    env, relay = templated
    esc = await env.create(customer={"id": "cust_3", "locale": "vi"})
    await _act(env, esc["id"], "take")
    await relay.drain()
    assert _texts(receiver, esc["id"])["escalation.taken"].startswith("Chào bạn, mình là U0MINH.")


async def test_the_failure_is_logged_once_per_template_not_per_escalation(
    templated: tuple[Env, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    env, _ = templated
    with caplog.at_level(logging.WARNING, logger="baton.templates"):
        for n in range(4):
            esc = await env.create(customer={"id": f"cust_{n}"})
            await _act(env, esc["id"], "take")
    logged = [r.getMessage() for r in caplog.records if r.name == "baton.templates"]
    assert len(logged) == 2, logged
    assert logged[0].startswith("templates.created could not be rendered")
    assert logged[1].startswith("templates.taken could not be rendered")
    assert "'None' has no attribute 'split'" in logged[1]
    assert "shipped default text was sent instead" in logged[1]


async def test_a_take_by_patch_and_a_create_assigned_at_once_fall_back_too(
    templated: tuple[Env, Relay], receiver: Receiver
) -> None:
    env, relay = templated
    patched = await env.create(customer={"id": "cust_4"})
    response = await env.client.patch(
        f"/v1/escalations/{patched['id']}", json={"assignee": "U0MINH"}, headers=env.auth
    )
    assert response.status_code == 200, response.text
    assigned = await env.create(customer={"id": "cust_5"}, assign_to="U0MINH")
    assert assigned["status"] == "taken"
    await relay.drain()
    for esc_id in (patched["id"], assigned["id"]):
        assert _texts(receiver, esc_id)["escalation.taken"].startswith(DEFAULTS["escalation.taken"])


# --- the start-up check -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("Hi {{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("Hi {{ customer.nmae }}", "has no attribute 'nmae'"),
        ("Hi {{ customer.name.split()[7] }}", "has no element 7"),
        ("Hi {{ customer.name.frobnicate() }}", "has no attribute 'frobnicate'"),
    ],
)
def test_a_text_that_fails_for_a_typical_escalation_stops_start_up(
    template: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"templates": {"platform": {"acme": {"vi": {"taken": template}}}}})
    assert "templates.platform.acme.vi.taken" in str(refused.value)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("template", "fails_for"),
    [
        (
            "Hi " + FIRST_NAME,
            [
                "a customer without a name",
                "a customer whose name is empty",
                "a customer with every field empty",
            ],
        ),
        ("Hi ({{ customer.locale.upper() }})", ["a customer without a locale"]),
        ("Hi {{ customer.name.encode('ascii').decode() }}", ["long names", "right-to-left"]),
        ("Hi {{ agent.name[:40] }}, {{ customer.email.split('@')[1] }}", ["every field empty"]),
    ],
)
def test_a_text_that_fails_for_some_customers_is_accepted_with_a_warning(
    template: str, fails_for: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="baton.config"):
        config = parse_config({"templates": {"taken": template}}, "baton.toml")
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "baton.config"]
    assert warning.startswith("baton.toml: templates.taken fails for ")
    for label in fails_for:
        assert label in warning
    assert "get the shipped default text instead" in warning
    assert config.customer_texts().warnings == [warning.removeprefix("baton.toml: ")]


@pytest.mark.parametrize(
    "template",
    [
        "{% if customer.name %}Hi {{ customer.name.split()[0] }}{% else %}Hi{% endif %}",
        "Hi {{ customer.name or 'there' }}, I'm {{ agent.name }} ({{ customer.locale or '?' }})",
        "Xin chào {{ (customer.name or '')[:20] }} 🌸",
    ],
)
def test_a_text_guarded_for_every_customer_gives_no_warning(
    template: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="baton.config"):
        config = parse_config({"templates": {"taken": template}})
    assert not [r for r in caplog.records if r.name == "baton.config"]
    assert config.customer_texts().warnings == []
