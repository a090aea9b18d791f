"""``baton doctor``'s checks of [[notifications]]: the SMTP login, and each webhook's URL."""

from api.cli.findings import Finding, failed, ok
from api.config import Config
from api.notification_config import WebhookEntry
from api.relay import smtp
from api.relay.callback_urls import UnsafeCallbackUrl, validate_for_registration
from api.settings import Settings


async def notification_findings(settings: Settings, config: Config) -> list[Finding]:
    found = []
    if config.smtp is not None:
        found.append(await smtp_check(config.smtp.server(settings.smtp_password)))
    for i, entry in enumerate(config.notifications):
        if isinstance(entry, WebhookEntry):
            found.append(await webhook_check(settings, i, entry))
    return found


async def smtp_check(server: smtp.SmtpServer) -> Finding:
    """Connect, secure the connection and log in, as every email will."""
    try:
        detail = await smtp.check_login(server)
    except smtp.SmtpFailure as exc:
        fix = "correct [smtp] (host, port, starttls/tls, username) or BATON_SMTP_PASSWORD"
        return failed("SMTP", str(exc), fix)
    return ok("SMTP", detail)


async def webhook_check(settings: Settings, index: int, entry: WebhookEntry) -> Finding:
    check = f"notifications[{index}] webhook"
    try:
        warning = await validate_for_registration(
            entry.url, allow_private=settings.allow_private_callbacks
        )
    except UnsafeCallbackUrl as exc:
        fix = "use a public https URL (for a local test, BATON_ALLOW_PRIVATE_CALLBACKS=true)"
        return failed(check, f"{entry.url}: {exc}", fix)
    if warning is not None:
        return failed(check, f"{entry.url}: {warning}", "check the host name's DNS record")
    return ok(check, entry.url)
