"""SLA policy: targets per priority, and the clock they run on (business hours, or 24/7).

Times are computed in UTC; business hours are local wall-clock times in the policy's
timezone, so an opening hour stays 09:00 across a DST change. Aware datetimes are only ever
subtracted in UTC: Python subtracts two times of one zone by their wall clocks, which is off
by an hour across a DST change.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_SEARCHED = 3660  # a policy with no open day for ten years is a broken policy
BREACHED = 100  # the alert level of a breach; levels 1… are at-risk thresholds


class Target(StrEnum):
    first_take = "first_take"
    resolution = "resolution"


class SlaState(StrEnum):
    on_track = "on_track"
    at_risk = "at_risk"
    breached = "breached"
    met = "met"  # the clock stopped (taken, or ended) in time
    missed = "missed"  # … or after its due time


def state_of(level: int) -> SlaState:
    if level >= BREACHED:
        return SlaState.breached
    return SlaState.at_risk if level > 0 else SlaState.on_track


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    days: frozenset[int]  # weekday numbers, Monday = 0
    opens: time
    closes: time
    holidays: frozenset[date] = frozenset()

    def _open_on(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days or day in self.holidays:
            return None
        opening = datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC)
        closing = datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC)
        return opening, closing

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of open time has passed since ``start``."""
        remaining = duration
        now = start.astimezone(UTC)
        day = now.astimezone(self.zone).date()
        for _ in range(MAX_DAYS_SEARCHED):
            hours = self._open_on(day)
            if hours is not None:
                begin, end = max(hours[0], now), hours[1]
                if begin < end:
                    if begin + remaining <= end:
                        return begin + remaining
                    remaining -= end - begin
            day += timedelta(days=1)
        raise ValueError("the business hours leave no open time within ten years")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two moments (zero if ``end`` is not after ``start``)."""
        total = timedelta(0)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        day = start.astimezone(self.zone).date()
        while start < end:
            hours = self._open_on(day)
            if hours is not None:
                begin, close = max(hours[0], start), min(hours[1], end)
                if begin < close:
                    total += close - begin
            day += timedelta(days=1)
            start = max(start, datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC))
        return total


@dataclass(frozen=True)
class TargetTimes:
    first_take: timedelta | None = None
    resolution: timedelta | None = None

    def of(self, target: Target) -> timedelta | None:
        return self.first_take if target == Target.first_take else self.resolution


@dataclass(frozen=True)
class SlaPolicy:
    """No targets means no SLA: nothing is due, nothing is flagged."""

    targets: Mapping[str, TargetTimes] = field(default_factory=dict)
    at_risk: Sequence[float] = (0.8,)
    hours: BusinessHours | None = None  # None: the clock runs around the clock

    def add(self, start: datetime, duration: timedelta) -> datetime:
        if self.hours is None:
            return start.astimezone(UTC) + duration
        return self.hours.add(start, duration)

    def target(self, priority: str, which: Target) -> timedelta | None:
        times = self.targets.get(priority)
        return None if times is None else times.of(which)

    def due(self, priority: str, which: Target, start: datetime) -> datetime | None:
        length = self.target(priority, which)
        return None if length is None else self.add(start, length)

    def alert_at(
        self, priority: str, which: Target, start: datetime, level: int
    ) -> datetime | None:
        """When alert ``level`` (1… at risk, BREACHED) of a target falls due."""
        length = self.target(priority, which)
        if length is None:
            return None
        if level >= BREACHED:
            return self.add(start, length)
        return self.add(start, length * self.at_risk[level - 1])

    def next_level(self, level: int) -> int | None:
        """The alert after ``level``: the next at-risk threshold, then the breach."""
        if level >= BREACHED:
            return None
        return level + 1 if level < len(self.at_risk) else BREACHED

    def next_check(
        self, priority: str, start: datetime, levels: Mapping[Target, int]
    ) -> datetime | None:
        """When the next alert of the running clocks (target → level reached) falls due."""
        upcoming = [
            self.alert_at(priority, target, start, following)
            for target, level in levels.items()
            if (following := self.next_level(level)) is not None
        ]
        return min((u for u in upcoming if u is not None), default=None)

    def level_at(self, priority: str, which: Target, start: datetime, now: datetime) -> int:
        """The highest alert level a running clock has reached at ``now``."""
        level = 0
        while (following := self.next_level(level)) is not None:
            when = self.alert_at(priority, which, start, following)
            if when is None or when > now:
                break
            level = following
        return level


def business_hours(
    timezone: str,
    days: Collection[str],
    opens: time,
    closes: time,
    holidays: Collection[date] = (),
) -> BusinessHours:
    return BusinessHours(
        zone=ZoneInfo(timezone),
        days=frozenset(WEEKDAYS.index(d) for d in days),
        opens=opens,
        closes=closes,
        holidays=frozenset(holidays),
    )
