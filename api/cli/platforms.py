"""``baton platforms``: register bot platforms, rotate their keys, move or remove them."""

import asyncio
import json
import sys
from collections.abc import Awaitable
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.console import out, say_warning
from api.cli.installation import Schema, on_database, read_settings
from api.cli.problems import Problem
from api.relay.callback_urls import RefusedAddress, UnsafeCallbackUrl, validate_for_registration
from api.settings import Settings
from storage.database import Database
from storage.platforms import (
    NewPlatform,
    PlatformListing,
    add_platform,
    list_with_keys,
    remove_platform,
    rotate_credentials,
    set_callback,
)

app = typer.Typer(
    help="Bot platforms that send escalations.", rich_markup_mode=None, no_args_is_help=True
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The platform's name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
OPT_IN = "BATON_ALLOW_PRIVATE_CALLBACKS"


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A short name, e.g. acme-widget.")],
    callback_url: Annotated[
        str,
        typer.Option("--callback-url", metavar="URL", help="Where Baton POSTs signed events."),
    ],
    as_json: AsJson = False,
) -> None:
    """Register a platform and print its API key and webhook secret, once."""
    settings = read_settings()
    warning = checked_callback(callback_url, settings)
    box = settings.secret_box()

    def register(db: Database) -> Awaitable[NewPlatform]:
        return add_platform(db, box, name, callback_url)

    created = on_database(settings, register, Schema.upgraded)
    if warning:
        say_warning(warning)
    secrets = {"api_key": created.api_key, "webhook_secret": created.webhook_secret}
    if as_json:
        _print_json(platform=name, **secrets)
        return
    out.print(f"Registered platform [bold]{escape(name)}[/] → {escape(callback_url)}")
    _print_once(secrets)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List registered platforms (never their secrets; a key by its visible start)."""
    listed = on_database(read_settings(), list_with_keys, Schema.current)
    if as_json:
        sys.stdout.write(json.dumps([_listing_json(entry) for entry in listed]) + "\n")
    elif not listed:
        out.print(
            "No platforms are registered: add one with "
            "`baton platforms add NAME --callback-url URL`.",
            highlight=False,
        )
    elif out.is_terminal:
        out.print(_table(listed))
    else:  # piped: one tab-separated line per platform, nothing cut
        for line in (HEADER, *(_row(entry) for entry in listed)):
            sys.stdout.write("\t".join(line) + "\n")


@app.command("rotate-key")
def rotate_key_command(
    name: Name,
    webhook_secret: Annotated[
        bool,
        typer.Option(
            "--webhook-secret",
            help="A new webhook secret too (leaked, or its sealing key lost); give it to the "
            "platform, which must verify with it from now on.",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Give the platform a new API key, printed once; the old one is revoked."""
    settings = read_settings()
    box = settings.secret_box() if webhook_secret else None

    def rotate(db: Database) -> Awaitable[tuple[str, str | None]]:
        return rotate_credentials(db, name, box)

    api_key, secret = on_database(settings, rotate, Schema.current)
    new = {"api_key": api_key, **({"webhook_secret": secret} if secret else {})}
    if as_json:
        _print_json(platform=name, **new)
        return
    out.print(f"New credentials for [bold]{escape(name)}[/]; the old API key is revoked.")
    _print_once(new)


@app.command("set-callback")
def set_callback_command(
    name: Name,
    callback_url: Annotated[
        str, typer.Argument(metavar="URL", help="Where Baton POSTs signed events from now on.")
    ],
    as_json: AsJson = False,
) -> None:
    """Send the platform's events to another URL (checked as `add` checks it)."""
    settings = read_settings()
    warning = checked_callback(callback_url, settings)

    def change(db: Database) -> Awaitable[None]:
        return set_callback(db, name, callback_url)

    on_database(settings, change, Schema.current)
    if warning:
        say_warning(warning)
    if as_json:
        _print_json(platform=name, callback_url=callback_url)
        return
    out.print(
        f"Events for [bold]{escape(name)}[/] go to {escape(callback_url)} from the next one on.",
        highlight=False,
    )


@app.command("remove")
def remove(name: Name, as_json: AsJson = False) -> None:
    """Remove a platform: its API key stops working; its escalations are kept."""

    def revoke(db: Database) -> Awaitable[None]:
        return remove_platform(db, name)

    on_database(read_settings(), revoke, Schema.current)
    if as_json:
        _print_json(platform=name, removed=True)
        return
    out.print(
        f"Removed platform [bold]{escape(name)}[/]: its API key no longer works; its "
        "escalations are kept."
    )


def checked_callback(url: str, settings: Settings) -> str | None:
    """Refuse a URL Baton will not deliver to, naming the opt-in a private one needs; a
    warning for a host that does not resolve yet."""
    try:
        return asyncio.run(
            validate_for_registration(url, allow_private=settings.allow_private_callbacks)
        )
    except RefusedAddress as exc:
        if exc.private:
            raise Problem(
                f"{exc}; private and loopback addresses are allowed only with {OPT_IN}=true, "
                "for tests and local demos"
            ) from None
        raise Problem(str(exc)) from None
    except UnsafeCallbackUrl as exc:
        raise Problem(f"{url}: {exc}") from None


HEADER = ("name", "key", "callback URL", "id", "registered")


def _row(entry: PlatformListing) -> tuple[str, ...]:
    platform = entry.platform
    key = "removed" if entry.key_prefix is None else entry.key_prefix + "…"
    registered = platform.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    return (platform.name, key, platform.callback_url, platform.id, registered)


def _table(listed: list[PlatformListing]) -> Table:
    table = Table(*HEADER, highlight=False)
    for entry in listed:
        table.add_row(*(escape(cell) for cell in _row(entry)), style="dim" if entry.removed else "")
    return table


def _listing_json(entry: PlatformListing) -> dict[str, Any]:
    platform = entry.platform
    return {
        "name": platform.name,
        "id": platform.id,
        "callback_url": platform.callback_url,
        "key_prefix": entry.key_prefix,
        "removed": entry.removed,
        "created_at": platform.created_at.isoformat(),
    }


def _print_json(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")


_LABELS = {"api_key": "API key:", "webhook_secret": "webhook secret:"}


def _print_once(secrets: dict[str, str]) -> None:
    out.print("Store these now; they are not shown again.")
    for field, value in secrets.items():
        out.print(f"  {_LABELS[field]:<16}{value}", highlight=False, markup=False)
