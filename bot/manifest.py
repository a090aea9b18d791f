"""The Slack app manifest (``manifest.yml``), with this installation's URLs filled in."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

MANIFEST = Path(__file__).parent / "manifest.yml"
EVENTS_PATH = "/slack/events"


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def manifest_for(base_url: str | None, *, socket_mode: bool = False) -> dict[str, Any]:
    """The manifest pointing every request URL at ``base_url`` + ``/slack/events``."""
    manifest = load_manifest()
    settings = manifest["settings"]
    if socket_mode:
        settings["socket_mode_enabled"] = True
    if base_url is None:
        return manifest
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("Slack sends requests only to https URLs, e.g. https://baton.example.com")
    url = base_url.rstrip("/") + EVENTS_PATH
    settings["event_subscriptions"]["request_url"] = url
    settings["interactivity"]["request_url"] = url
    for command in manifest["features"].get("slash_commands", []):
        command["url"] = url
    return manifest


def manifest_yaml(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)


def bot_scopes() -> list[str]:
    return list(load_manifest()["oauth_config"]["scopes"]["bot"])
