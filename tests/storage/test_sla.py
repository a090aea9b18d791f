"""The SLA clock: business hours, holidays, DST, and the alert levels of a target."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from storage.sla import BREACHED, SlaPolicy, SlaState, Target, TargetTimes, business_hours, state_of

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
OFFICE = business_hours("Europe/Paris", WEEKDAYS, time(9), time(18))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_friday_evening_plus_thirty_minutes_is_monday_morning() -> None:
    due = OFFICE.add(paris(2026, 11, 20, 17, 50), timedelta(minutes=30))
    assert due == paris(2026, 11, 23, 9, 20)


def test_holidays_are_skipped() -> None:
    hours = business_hours("Europe/Paris", WEEKDAYS, time(9), time(18), [date(2026, 12, 25)])
    # Thursday 24th 17:00 + 2 h: one hour that day, Friday 25th is a holiday, then Monday.
    assert hours.add(paris(2026, 12, 24, 17), timedelta(hours=2)) == paris(2026, 12, 28, 10)


def test_a_business_day_across_a_dst_change_keeps_its_hours() -> None:
    every_day = business_hours("Europe/Paris", [*WEEKDAYS, "sat", "sun"], time(9), time(18))
    for day in (date(2026, 3, 29), date(2026, 10, 25)):  # spring forward, fall back (Sundays)
        start = datetime.combine(day, time(9), tzinfo=PARIS)
        assert every_day.add(start, timedelta(hours=9)) == datetime.combine(
            day, time(18), tzinfo=PARIS
        )
        next_noon = datetime.combine(day + timedelta(days=1), time(12), tzinfo=PARIS)
        # The whole day (9 h, whether the night had 23 or 25), then 09:00-12:00 the next.
        assert every_day.between(start - timedelta(hours=3), next_noon) == timedelta(hours=12)
    # Saturday 17:30 + 1 h → Sunday 09:30 local, which after the change is 07:30 UTC.
    due = every_day.add(paris(2026, 3, 28, 17, 30), timedelta(hours=1))
    assert due == datetime(2026, 3, 29, 7, 30, tzinfo=UTC)


def test_open_hours_spanning_the_missing_hour_count_real_time() -> None:
    night = business_hours("Europe/Paris", ["sun"], time(0, 30), time(5))
    day = date(2026, 3, 29)  # 02:00 → 03:00
    assert night.between(
        datetime.combine(day, time(0), tzinfo=PARIS), datetime.combine(day, time(6), tzinfo=PARIS)
    ) == timedelta(hours=3, minutes=30)


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=60 * 24 * 20),
)
def test_open_time_between_start_and_due_is_the_target(start: datetime, minutes: int) -> None:
    hours = business_hours("Europe/Paris", WEEKDAYS, time(9), time(18), [date(2026, 12, 25)])
    length = timedelta(minutes=minutes)
    assert hours.between(start, hours.add(start, length)) == length


def test_alert_levels_climb_through_each_threshold_to_the_breach() -> None:
    policy = SlaPolicy(
        targets={"urgent": TargetTimes(first_take=timedelta(hours=1))}, at_risk=(0.5, 0.75, 0.9)
    )
    start = datetime(2026, 3, 12, 10, tzinfo=UTC)
    levels = [
        policy.level_at("urgent", Target.first_take, start, start + timedelta(minutes=m))
        for m in (29, 30, 45, 54, 59, 60, 600)
    ]
    assert levels == [0, 1, 2, 3, 3, BREACHED, BREACHED]
    assert [state_of(level) for level in (0, 2, BREACHED)] == [
        SlaState.on_track,
        SlaState.at_risk,
        SlaState.breached,
    ]
    assert policy.level_at("low", Target.first_take, start, start + timedelta(days=9)) == 0
    assert policy.due("urgent", Target.resolution, start) is None
