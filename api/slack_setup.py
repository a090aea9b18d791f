"""The Slack side's configuration, from the environment and the configuration file."""

from pydantic import SecretStr

from api.config import Config
from api.notification_config import SlackEntry
from api.settings import Settings
from bot.config import SlackConfig, SlackNotice
from bot.routing import Route, Router


class SlackNotConfigured(RuntimeError):
    pass


def slack_config(settings: Settings, config: Config) -> SlackConfig | None:
    """None without ``SLACK_BOT_TOKEN`` (Baton runs as an API only); an error naming what
    is missing when Slack is half set up."""
    if settings.slack_bot_token is None:
        told = [i for i, e in enumerate(config.notifications) if isinstance(e, SlackEntry)]
        if told:
            raise SlackNotConfigured(
                f"notifications[{told[0]}]: a slack notification needs Slack (SLACK_BOT_TOKEN)"
            )
        return None
    if settings.slack_signing_secret is None:
        raise SlackNotConfigured(
            "SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN: Baton verifies every "
            "request from Slack (Basic Information → App Credentials → Signing Secret)"
        )
    channel = settings.escalation_channel or config.slack.escalation_channel
    if not channel:
        raise SlackNotConfigured(
            "BATON_ESCALATION_CHANNEL (or [slack] escalation_channel) is required with "
            "SLACK_BOT_TOKEN: it is the channel cards go to when no routing rule matches"
        )
    routes = [
        Route(
            slack_channel=rule.slack_channel,
            priority=None if rule.priority is None else {str(p) for p in rule.priority},
            customer_channel=None if rule.customer_channel is None else set(rule.customer_channel),
            platform=None if rule.platform is None else set(rule.platform),
            reason=None if rule.reason is None else {str(r) for r in rule.reason},
        )
        for rule in config.routing
    ]
    return SlackConfig(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        router=Router(channel, routes),
        api_url=settings.slack_api_url,
        app_token=_secret(settings.slack_app_token),
        managers_channel=settings.managers_channel or config.slack.managers_channel,
        oncall_group=config.slack.oncall_group,
        max_file_bytes=config.files.max_bytes,
        notices={
            entry.key: SlackNotice(entry.channel, entry.mention_text())
            for entry in config.notifications
            if isinstance(entry, SlackEntry)
        },
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
