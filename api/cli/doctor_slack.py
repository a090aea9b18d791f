"""The Slack side of ``baton doctor``: the token (``auth.test``), its scopes against those
Baton's calls need (the manifest's), the signing secret, the Socket Mode token, and the
bot's membership of every channel Baton posts to. Read-only calls only."""

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from api.cli.findings import Finding, failed, ok, skipped
from api.config import Config
from api.notification_config import SlackEntry
from api.settings import SLACK_API_URL, Settings
from bot.scopes import PURPOSES, needed_scopes

TIMEOUT = 10
REINSTALL = "then reinstall the app to the workspace (OAuth & Permissions → Reinstall)"
TOKEN_GONE = (
    "the app was uninstalled or its token revoked: install it again "
    "(OAuth & Permissions → Install to Workspace) and copy the new token"
)
ESCALATION_ROLE = "escalation channel"
TOKEN_FIXES = {
    "invalid_auth": "copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & "
    "Permissions page into SLACK_BOT_TOKEN",
    "not_authed": "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…)",
    "token_revoked": TOKEN_GONE,
    "account_inactive": TOKEN_GONE,
    "token_expired": "token rotation is on and this token expired: turn rotation off in the "
    "app's OAuth settings (Baton does not refresh tokens), reinstall, copy the new token",
}


@dataclass(frozen=True)
class SlackAnswer:
    response: AsyncSlackResponse | None
    error: str | None  # Slack's error code, or why Slack could not be reached
    unreachable: bool = False


async def slack_findings(settings: Settings, config: Config) -> list[Finding]:
    found = [signing_secret_check(settings)]
    token = settings.slack_bot_token
    if token is None:
        fix = (
            "create the Slack app from the manifest (`baton manifest --url https://…`), "
            "install it, and set SLACK_BOT_TOKEN to its Bot User OAuth Token (xoxb-…)"
        )
        missing = failed("Slack token", "SLACK_BOT_TOKEN is not set", fix)
        return _without_token(missing, found, "no token")
    value = token.get_secret_value()
    if not value.startswith("xoxb-"):
        fix = "use the Bot User OAuth Token (xoxb-…), not a user (xoxp-) or app-level (xapp-) one"
        refused = failed("Slack token", "SLACK_BOT_TOKEN is not a bot token", fix)
        return _without_token(refused, found, "no bot token")
    client = AsyncWebClient(token=value, base_url=settings.slack_api_url, timeout=TIMEOUT)
    auth = await ask(client.auth_test())
    if auth.response is None:
        return _without_token(_token_failure(auth, settings), found, "the token was not accepted")
    bot_name = str(auth.response.get("user") or "baton")
    team = auth.response.get("team") or auth.response.get("team_id")
    found.insert(0, ok("Slack token", f"valid: bot @{bot_name} in workspace {team}"))
    found.append(scope_check(auth.response))
    found += await app_token_findings(settings)
    found += await channel_findings(client, settings, config, bot_name)
    return found


def _without_token(token: Finding, found: list[Finding], why: str) -> list[Finding]:
    """The token's failure first, then what was found without it; the checks that need a
    token are skipped for ``why``."""
    return [token, *found, skipped("Slack scopes", why), skipped("channels", why)]


async def ask(call: Awaitable[AsyncSlackResponse]) -> SlackAnswer:
    try:
        return SlackAnswer(await call, None)
    except SlackApiError as exc:
        return SlackAnswer(None, str(exc.response.get("error") or exc))
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        return SlackAnswer(None, str(exc) or type(exc).__name__, unreachable=True)


def _token_failure(auth: SlackAnswer, settings: Settings) -> Finding:
    if auth.unreachable:
        where = settings.slack_api_url
        fix = "check the network (and any proxy) from this machine to Slack"
        if where != SLACK_API_URL:
            fix += "; BATON_SLACK_API_URL is set: unset it to use Slack itself"
        return failed("Slack token", f"cannot reach Slack at {where}: {auth.error}", fix)
    error = auth.error or "unknown error"
    fix = TOKEN_FIXES.get(error, "check SLACK_BOT_TOKEN against your app's OAuth & Permissions")
    return failed("Slack token", f"Slack refused SLACK_BOT_TOKEN ({error})", fix)


def scope_check(auth: AsyncSlackResponse) -> Finding:
    """The token's scopes (Slack names them in ``x-oauth-scopes`` on every answer) against
    those Baton's calls need, each missing one named with what it is for."""
    headers = {str(k).lower(): str(v) for k, v in (auth.headers or {}).items()}
    granted_header = headers.get("x-oauth-scopes")
    if granted_header is None:
        return skipped("Slack scopes", "Slack did not say which scopes the token has")
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    needed = sorted(needed_scopes())
    missing = [scope for scope in needed if scope not in granted]
    if missing:
        return failed(
            "Slack scopes",
            "; ".join(f"missing {scope}: {PURPOSES[scope]}" for scope in missing),
            f"add {', '.join(missing)} under OAuth & Permissions → Bot Token Scopes (or "
            f"recreate the app from `baton manifest`), {REINSTALL}",
        )
    return ok("Slack scopes", f"all {len(needed)} the manifest asks for")


def signing_secret_check(settings: Settings) -> Finding:
    secret = settings.slack_signing_secret
    where = "your app's Basic Information → App Credentials → Signing Secret"
    if secret is None:
        return failed("signing secret", "SLACK_SIGNING_SECRET is not set", f"copy it from {where}")
    if secret.get_secret_value().startswith(("xox", "xapp-")):
        return failed(
            "signing secret",
            "SLACK_SIGNING_SECRET holds a token, not the signing secret",
            f"copy the Signing Secret from {where}",
        )
    return ok("signing secret", "set (Slack's requests to /slack/events are checked with it)")


async def app_token_findings(settings: Settings) -> list[Finding]:
    """Only with Socket Mode (``SLACK_APP_TOKEN`` set)."""
    if settings.slack_app_token is None:
        return []
    value = settings.slack_app_token.get_secret_value()
    fix = (
        "create an app-level token with the connections:write scope (Basic Information → "
        "App-Level Tokens) and put it in SLACK_APP_TOKEN; enable Socket Mode in the app"
    )
    if not value.startswith("xapp-"):
        return [failed("Socket Mode token", "SLACK_APP_TOKEN is not an app-level token", fix)]
    client = AsyncWebClient(token=value, base_url=settings.slack_api_url, timeout=TIMEOUT)
    answer = await ask(client.apps_connections_open(app_token=value))
    if answer.response is None:
        return [failed("Socket Mode token", f"Slack refused SLACK_APP_TOKEN ({answer.error})", fix)]
    return [ok("Socket Mode token", "valid: Baton connects to Slack over Socket Mode")]


def configured_channels(settings: Settings, config: Config) -> dict[str, list[str]]:
    """Every channel Baton posts to, with what it is used for (the environment wins over the
    configuration file)."""
    roles: dict[str, list[str]] = {}
    escalation = settings.escalation_channel or config.slack.escalation_channel
    managers = settings.managers_channel or config.slack.managers_channel
    if escalation:
        roles.setdefault(escalation, []).append(ESCALATION_ROLE)
    for number, rule in enumerate(config.routing, start=1):
        roles.setdefault(rule.slack_channel, []).append(f"routing rule {number}")
    if managers:
        roles.setdefault(managers, []).append("managers channel")
    for index, entry in enumerate(config.notifications):
        if isinstance(entry, SlackEntry) and entry.channel:
            roles.setdefault(entry.channel, []).append(f"notifications[{index}]")
    return roles


async def channel_findings(
    client: AsyncWebClient, settings: Settings, config: Config, bot_name: str
) -> list[Finding]:
    found = []
    channels = configured_channels(settings, config)
    if not any(ESCALATION_ROLE in roles for roles in channels.values()):
        found.append(
            failed(
                "escalation channel",
                "not set: cards have nowhere to go",
                "set BATON_ESCALATION_CHANNEL (or [slack] escalation_channel) to the channel's "
                "id, C… (channel details → About, at the bottom)",
            )
        )
    for channel, roles in channels.items():
        answer = await ask(client.conversations_info(channel=channel))
        found.append(_membership(channel, roles, answer, bot_name))
    return found


def _membership(channel: str, roles: list[str], answer: SlackAnswer, bot_name: str) -> Finding:
    check = f"channel {channel}"
    used = " and ".join(roles)
    invite = f"in that channel, type /invite @{bot_name}"
    if answer.response is None:
        if answer.error == "channel_not_found":
            return failed(
                check,
                f"{used}: Slack knows no such channel (or it is private and the bot is not in it)",
                "use the channel's id, C… (channel details → About, at the bottom), not its "
                f"name; for a private channel, {invite}",
            )
        if answer.error == "missing_scope":
            return failed(
                check,
                f"{used}: the token may not read channel details (missing_scope)",
                f"add channels:read and groups:read to the Bot Token Scopes, {REINSTALL}",
            )
        return failed(check, f"{used}: conversations.info failed ({answer.error})", invite)
    info: dict[str, Any] = answer.response.get("channel") or {}
    name = f"#{info['name']} " if info.get("name") else ""
    if not info.get("is_member"):
        return failed(check, f"{name}{used}: the bot is not a member", invite)
    return ok(check, f"{name}{used}: the bot is a member")
