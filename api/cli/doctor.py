"""``baton doctor``: the checks for what breaks installations in practice, each failure with
the fix that repairs it. Nothing here changes anything: no file, schema or Slack state is
created or altered."""

from pydantic import ValidationError

from api.cli.doctor_notifications import notification_findings
from api.cli.doctor_slack import slack_findings
from api.cli.findings import Finding, failed, ok, skipped
from api.cli.installation import check_settings
from api.cli.problems import Problem
from api.config import Config, ConfigError
from api.logs import UnknownLevel
from api.relay.callback_urls import UnsafeCallbackUrl, validate_for_registration
from api.settings import Settings
from storage.database import Database, cause, without_password
from storage.migrate import current_revision, head_revision
from storage.models import Platform
from storage.platforms import PlatformListing, list_with_keys
from storage.sealing import SealError, SecretBox


async def examine() -> list[Finding]:
    """Every check, in the order a newcomer would fix them."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return [failed("settings", problems, "correct the environment variables named above")]
    try:
        check_settings(settings)
    except (Problem, UnknownLevel) as exc:
        return [failed("settings", str(exc), "correct the environment variable named above")]
    found = [ok("settings", "read from the environment")]
    config_finding, config = config_check(settings)
    found.append(config_finding)
    database, platforms = await database_findings(settings)
    found += database
    found.append(secret_key_check(settings, [entry.platform for entry in platforms or []]))
    if platforms is None:
        found.append(skipped("registered platforms", "the database is not ready"))
    else:
        found += await callback_findings(settings, platforms)
    found += await slack_findings(settings, config)
    found += await notification_findings(settings, config)
    return found


def config_check(settings: Settings) -> tuple[Finding, Config]:
    """The configuration file's finding, and the configuration (the defaults when it fails)."""
    if settings.config_path is None:
        return ok("configuration file", "BATON_CONFIG not set: the defaults apply"), Config()
    try:
        config = settings.load_config()
    except ConfigError as exc:
        fix = f"correct {settings.config_path} where the message points (README: Configuration)"
        return failed("configuration file", str(exc), fix), Config()
    return ok("configuration file", f"{settings.config_path} parses"), config


async def database_findings(
    settings: Settings,
) -> tuple[list[Finding], list[PlatformListing] | None]:
    """What was found, and the registered platforms (None when they cannot be read)."""
    shown = without_password(settings.database_url)
    path = settings.sqlite_path
    if path is not None and not path.exists():
        fix = (
            "run `baton db upgrade` (or `baton serve`, which creates it) in this directory, "
            "or point BATON_DATABASE_URL at the database"
        )
        return [failed("database", f"no database at {path} yet", fix)], None
    db = Database(settings.database_url)
    try:
        try:
            current = await current_revision(db)
        except Exception as exc:  # any driver's error: the point is to report it
            fix = "check BATON_DATABASE_URL, and that the server runs and accepts this user"
            return [failed("database", f"cannot reach {shown}: {_reason(exc)}", fix)], None
        found = [ok("database", f"reachable at {shown}")]
        head = head_revision()
        if current != head:
            detail = f"at revision {current or 'none (empty)'}; this Baton's newest is {head}"
            fix = "run `baton db upgrade` (`baton serve` also does at start-up)"
            return [*found, failed("schema", detail, fix)], None
        found.append(ok("schema", f"up to date (revision {head})"))
        return found, await list_with_keys(db)
    finally:
        await db.dispose()


def _reason(exc: Exception) -> str:
    """The driver's own words, without SQLAlchemy's wrapping."""
    return str(cause(exc))


def secret_key_check(settings: Settings, platforms: list[Platform]) -> Finding:
    """The key that seals webhook secrets must open the ones already stored."""
    name = "secret key"
    if settings.secret_key is not None:
        key, source = settings.secret_key.get_secret_value(), "BATON_SECRET_KEY"
    else:
        key_file = settings.key_file
        if key_file is None:
            return failed(
                name,
                "BATON_SECRET_KEY is not set",
                "set BATON_SECRET_KEY, the same on every replica; make one with "
                "`python -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32))"
                ".decode())'`",
            )
        if not key_file.exists():
            if platforms:
                return failed(
                    name,
                    f"{key_file} is missing: the webhook secrets of {len(platforms)} "
                    "platform(s) cannot be read",
                    f"restore {key_file} from a backup, or give each platform a new webhook "
                    "secret: `baton platforms rotate-key NAME --webhook-secret`",
                )
            return ok(name, f"{key_file} is made at the first `baton platforms add`")
        key, source = key_file.read_text(encoding="utf-8").strip(), str(key_file)
    return _opens_every_secret(name, key, source, platforms)


def _opens_every_secret(name: str, key: str, source: str, platforms: list[Platform]) -> Finding:
    try:
        box = SecretBox(key)
        for platform in platforms:
            box.open(platform.webhook_secret_sealed)
    except SealError as exc:
        return failed(
            name,
            f"{source}: {exc}",
            "use the key the platforms were registered with (every replica needs the same one)",
        )
    return ok(name, f"{source} opens the webhook secrets of {len(platforms)} platform(s)")


async def callback_findings(settings: Settings, listed: list[PlatformListing]) -> list[Finding]:
    """Each platform's callback URL (not a removed platform's: it takes no new escalations)."""
    platforms = [entry.platform for entry in listed if not entry.removed]
    if not platforms:
        return [ok("registered platforms", "none yet (`baton platforms add NAME --callback-url`)")]
    found = []
    for platform in platforms:
        check = f"platform {platform.name}"
        try:
            warning = await validate_for_registration(
                platform.callback_url, allow_private=settings.allow_private_callbacks
            )
        except UnsafeCallbackUrl as exc:
            fix = _callback_fix(platform.name)
            found.append(failed(check, f"{platform.callback_url}: {exc}", fix))
            continue
        if warning is not None:
            fix = "check the host name's DNS record; Baton retries the events meanwhile"
            found.append(failed(check, f"{platform.callback_url}: {warning}", fix))
        else:
            found.append(ok(check, f"callback {platform.callback_url}"))
    return found


def _callback_fix(name: str) -> str:
    return (
        "events go only to public http(s) addresses: give the platform its public https URL "
        f"(`baton platforms set-callback {name} https://…`); for a local test, set "
        "BATON_ALLOW_PRIVATE_CALLBACKS=true"
    )
