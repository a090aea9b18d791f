"""What the app builds once at start-up and hands to every request."""

from dataclasses import dataclass, field

from api.config import Config
from api.http.metrics import Metrics
from api.http.ratelimit import RateLimiter
from api.keys import ApiKeys
from api.relay.callback_urls import Resolver, system_resolver
from api.settings import Settings
from api.slack_files import SlackFiles
from bot.app_home import AppHomes
from bot.config import SlackConfig
from bot.people import People
from storage.database import Database
from storage.machine import Machine
from storage.sealing import SecretBox


@dataclass
class Services:
    settings: Settings
    config: Config
    db: Database
    machine: Machine
    box: SecretBox
    limiter: RateLimiter
    metrics: Metrics
    keys: ApiKeys
    resolver: Resolver = field(default=system_resolver)
    slack: SlackConfig | None = None
    homes: AppHomes | None = None  # App Homes, published and refreshed (with Slack only)
    people: People | None = None  # Slack users by id or email (with Slack only)
    slack_files: SlackFiles | None = None  # agents' files, streamed from Slack (with Slack only)
