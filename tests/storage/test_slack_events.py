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


async def test_a_claim_drops_retries_until_handled_and_a_crashed_one_is_taken_over(
    clocked_env: Env,
) -> None:
    db, clock = clocked_env.db, clocked_env.clock
    assert isinstance(clock, ManualClock)
    assert await slack_events.claim(db, "Ev01")
    assert not await slack_events.claim(db, "Ev01")  # a retry while it is being handled
    clock.advance(slack_events.CLAIM_LEASE + timedelta(seconds=1))
    assert await slack_events.claim(db, "Ev01")  # its handler crashed: a later retry takes it
    await slack_events.handled(db, "Ev01")
    clock.advance(timedelta(hours=1))
    assert not await slack_events.claim(db, "Ev01")  # handled: never again

    assert await slack_events.claim(db, "Ev02")
    await slack_events.release(db, "Ev02")  # its handling failed: the next retry handles it
    assert await slack_events.claim(db, "Ev02")
