"""Each Slack event is handled once; event ids are forgotten after a day."""

from datetime import timedelta

from storage import slack_events
from storage.clock import ManualClock
from tests.conftest import Env


async def test_an_event_id_is_seen_once_and_forgotten_after_a_day(clocked_env: Env) -> None:
    db = clocked_env.db
    assert await slack_events.first_sight(db, "Ev01")
    assert not await slack_events.first_sight(db, "Ev01")
    assert await slack_events.first_sight(db, "Ev02")
    assert isinstance(clocked_env.clock, ManualClock)
    clocked_env.clock.advance(timedelta(hours=23))
    assert await slack_events.purge_seen(db) == 0
    clocked_env.clock.advance(timedelta(hours=2))
    assert await slack_events.purge_seen(db) == 2
    assert await slack_events.first_sight(db, "Ev01")
