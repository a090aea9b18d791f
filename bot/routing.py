"""Which channel an escalation's card goes to: the first matching rule, else the default."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from storage.models import Escalation


@dataclass(frozen=True)
class Route:
    """A rule; a criterion left as None matches every escalation."""

    slack_channel: str
    priority: Collection[str] | None = None
    customer_channel: Collection[str] | None = None
    platform: Collection[str] | None = None
    reason: Collection[str] | None = None

    def matches(self, esc: Escalation, platform_name: str) -> bool:
        checks = (
            (self.priority, str(esc.priority)),
            (self.customer_channel, esc.channel),
            (self.platform, platform_name),
            (self.reason, str(esc.reason)),
        )
        return all(allowed is None or value in allowed for allowed, value in checks)


@dataclass(frozen=True)
class Router:
    default_channel: str | None
    routes: Sequence[Route] = ()

    def channel_for(self, esc: Escalation, platform_name: str) -> str | None:
        for route in self.routes:
            if route.matches(esc, platform_name):
                return route.slack_channel
        return self.default_channel
