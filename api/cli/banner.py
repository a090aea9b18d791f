"""What ``baton serve`` says it serves, at start: a few lines an operator reads once."""

import ipaddress
from collections import Counter
from importlib.metadata import PackageNotFoundError, version

from rich.console import Console
from rich.markup import escape

from api.services import Services
from storage.database import without_password

LABEL = 14


def baton_version() -> str:
    try:
        return version("baton")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def base_url(host: str, port: int) -> str:
    """Where this machine reaches the server (a wildcard address listens on loopback too)."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
    host = wildcard.get(host, host)
    try:
        bracketed = ipaddress.ip_address(host).version == 6
    except ValueError:
        bracketed = False
    return f"http://{f'[{host}]' if bracketed else host}:{port}"


def print_banner(services: Services, host: str, port: int, console: Console) -> None:
    base = base_url(host, port)
    console.print(f"[bold]Baton {baton_version()}[/] serving on {escape(base)}", highlight=False)
    for label, said in _lines(services, base):
        console.print(f"  {label:<{LABEL}}{escape(said)}", highlight=False, soft_wrap=True)
    if services.slack is None:
        console.print(
            "[bold yellow]warning: Slack is off (SLACK_BOT_TOKEN is not set): escalations are "
            "accepted, but their cards wait until Slack is configured and Baton restarted.[/]",
            soft_wrap=True,
        )


def _lines(services: Services, base: str) -> list[tuple[str, str]]:
    return [
        ("database", without_password(services.settings.database_url)),
        ("Slack", _slack_mode(services, base)),
        ("channels", _channels(services)),
        ("notifications", _notifications(services)),
        ("API docs", f"{base}/docs"),
    ]


def _slack_mode(services: Services, base: str) -> str:
    slack = services.slack
    if slack is None:
        return "off"
    if slack.app_token:
        return "Socket Mode (SLACK_APP_TOKEN): Baton connects to Slack"
    return (
        f"HTTP: Slack's requests go to https://YOUR-HOST/slack/events ({base}/slack/events "
        "here), checked with SLACK_SIGNING_SECRET"
    )


def _channels(services: Services) -> str:
    slack = services.slack
    if slack is None:
        return "none (Slack is off)"
    rules = len(slack.router.routes)
    routed = f" ({rules} routing rule{'s' if rules != 1 else ''} before it)" if rules else ""
    managers = slack.managers_channel or "none (SLA breaches and the digest are not posted)"
    return f"escalations {slack.router.default_channel}{routed}; managers {managers}"


def _notifications(services: Services) -> str:
    kinds = Counter(entry.kind for entry in services.config.notifications)
    if not kinds:
        return "none"
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
