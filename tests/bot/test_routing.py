"""Routing rules from ``BATON_CONFIG``: each key picks the card's channel, the first match
wins, the rest goes to ``BATON_ESCALATION_CHANNEL``; a bad rule stops start-up; Reassign
offers the members of the channel the card was routed to."""

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.config import ApiSection, Config, ConfigError, RoutingRule
from api.demo.slack_standin import BOT_USER, StandIn
from api.http.app import build_services
from blocks.ids import Action, MoreOption
from storage.models import Priority, Reason
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    CHI,
    SIGNING_SECRET,
    SlackEnv,
    eventually,
    people,
    running_slack_env,
)
from tests.conftest import make_settings

URGENT, WIDGET, PARTNER, KEYWORDS = "C0URGENT", "C0WIDGET", "C0PARTNER", "C0KEYWORDS"
RULES = [
    RoutingRule(priority=[Priority.urgent], slack_channel=URGENT),
    RoutingRule(customer_channel=["widget", "messenger"], slack_channel=WIDGET),
    RoutingRule(platform=["partner"], slack_channel=PARTNER),
    RoutingRule(reason=[Reason.keyword], priority=[Priority.high], slack_channel=KEYWORDS),
]


@pytest.fixture
def routed_slack() -> Iterator[StandIn]:
    users = people()
    channels = {
        CHANNEL: {BOT_USER, *users},
        URGENT: {BOT_USER, BOB, CHI},  # Ann is not in the urgent channel
        WIDGET: {BOT_USER},
        PARTNER: {BOT_USER},
        KEYWORDS: {BOT_USER},
    }
    server = StandIn(channels=channels, users=users).start()
    yield server
    server.stop()


@pytest.fixture
async def routed(database_url: str, routed_slack: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), routing=RULES)
    async with running_slack_env(database_url, routed_slack, config=config) as senv:
        yield senv


async def channel_of(senv: SlackEnv, esc_id: str) -> str:
    return (await senv.thread(esc_id)).channel_id


async def test_each_rule_key_routes_its_cards(routed: SlackEnv) -> None:
    partner = await routed.env.add_platform("partner")
    partner_auth = {"Authorization": f"Bearer {partner.api_key}"}

    by_priority = await routed.escalate(priority="urgent", channel="whatsapp")
    by_channel = await routed.escalate(priority="high", channel="messenger")
    by_platform_id = (await routed.env.create(auth=partner_auth, priority="low"))["id"]
    await routed.deliver()
    by_reason = await routed.escalate(priority="high", reason="keyword")

    assert await channel_of(routed, by_priority) == URGENT
    assert await channel_of(routed, by_channel) == WIDGET
    assert await channel_of(routed, by_platform_id) == PARTNER
    assert await channel_of(routed, by_reason) == KEYWORDS
    assert [
        m.metadata["event_payload"]["escalation_id"] for m in routed.slack.top_level(URGENT)
    ] == [by_priority]


async def test_first_match_wins_and_the_rest_falls_back(routed: SlackEnv) -> None:
    urgent_widget = await routed.escalate(priority="urgent", channel="widget")
    # Keyword but low priority: the keyword rule wants both, so it does not match.
    low_keyword = await routed.escalate(priority="low", reason="keyword", channel="whatsapp")
    plain = await routed.escalate(priority="high", channel="whatsapp")

    assert await channel_of(routed, urgent_widget) == URGENT  # the widget rule comes later
    assert await channel_of(routed, low_keyword) == CHANNEL
    assert await channel_of(routed, plain) == CHANNEL


async def test_reassign_offers_the_members_of_the_routed_channel(routed: SlackEnv) -> None:
    # Bob and Chi have used Baton before, so it knows their names.
    for user in (BOB, CHI, ANN):
        await routed.take(await routed.escalate(channel="whatsapp"), user)
    esc_id = await routed.escalate(priority="urgent")
    assert await channel_of(routed, esc_id) == URGENT

    await routed.click(esc_id, ANN, Action.MORE, option=f"{MoreOption.REASSIGN}:{esc_id}")
    modal = await eventually(lambda: _modal(routed), what="the assign modal")
    (members,) = [c.params for c in routed.slack.calls_to("conversations.members")]
    assert members["channel"] == URGENT
    suggestions = json.dumps(modal["blocks"])
    assert f"Members of the channel: <@{BOB}>, <@{CHI}>" in suggestions
    assert ANN not in suggestions  # she is in the default channel, not this one


def _modal(senv: SlackEnv) -> dict[str, Any] | None:
    modals = [v for k, v in senv.slack.views.items() if not k.startswith("home:")]
    return modals[-1] if modals else None


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ('customer_channel = []\nslack_channel = "C1"', "routing[0].customer_channel"),
        ('priority = ["critical"]\nslack_channel = "C1"', "routing[0].priority"),
        ('reason = ["angry"]\nslack_channel = "C1"', "routing[0].reason"),
        ('platform = ["acme"]', "routing[0].slack_channel"),
        ('chanel = ["whatsapp"]\nslack_channel = "C1"', "routing[0].chanel: unknown key"),
    ],
)
def test_a_bad_rule_stops_start_up_naming_it(tmp_path: Path, rule: str, named: str) -> None:
    path = tmp_path / "baton.toml"
    path.write_text(f"[[routing]]\n{rule}\n", encoding="utf-8")
    settings = make_settings(
        f"sqlite:///{tmp_path}/baton.db",
        config_path=path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        escalation_channel=CHANNEL,
    )
    with pytest.raises(ConfigError) as refused:
        build_services(settings)
    assert named in str(refused.value)
    assert str(path) in str(refused.value)
