"""manifest.yml installs the app: valid against Slack's schema, with Baton's URLs."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from bot.manifest import MANIFEST, bot_scopes, load_manifest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "data" / "manifest.schema.1.0.0.json").read_text())
BATON = Path(sys.executable).parent / "baton"
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "app_mention": "app_mentions:read",
}


def test_the_manifest_at_the_root_is_valid_and_is_the_one_installed() -> None:
    root = yaml.safe_load((ROOT / "manifest.yml").read_text())
    jsonschema.validate(root, SCHEMA)
    assert load_manifest() == root
    assert MANIFEST.read_text() == (ROOT / "manifest.yml").read_text()


def test_every_subscribed_event_has_its_scope() -> None:
    manifest = load_manifest()
    scopes = set(bot_scopes())
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        if event in EVENT_SCOPES:
            assert EVENT_SCOPES[event] in scopes, event
    assert {"chat:write", "users:read", "reactions:write", "commands"} <= scopes
    assert manifest["features"]["slash_commands"][0]["command"] == "/escalations"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_baton_manifest_fills_in_the_request_urls() -> None:
    out = subprocess.run(
        [BATON, "manifest", "--url", "https://baton.acme.example/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    manifest = yaml.safe_load(out)
    jsonschema.validate(manifest, SCHEMA)
    url = "https://baton.acme.example/slack/events"
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"]["request_url"] == url
    assert manifest["features"]["slash_commands"][0]["url"] == url
    assert "baton.example.com" not in out


def test_socket_mode_and_a_plain_http_url() -> None:
    socket = subprocess.run(
        [BATON, "manifest", "--socket-mode"], capture_output=True, text=True, check=True
    ).stdout
    assert yaml.safe_load(socket)["settings"]["socket_mode_enabled"] is True
    refused = subprocess.run(
        [BATON, "manifest", "--url", "http://baton.acme.example"], capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "https" in refused.stderr
