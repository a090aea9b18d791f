"""manifest.yml installs the app: valid against Slack's schema, with Baton's URLs."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from bot.manifest import MANIFEST, bot_scopes, load_manifest
from bot.scopes import CALLS, EVENT_SCOPES, needed_scopes, scope_for

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "data" / "manifest.schema.1.0.0.json").read_text())
BATON = Path(sys.executable).parent / "baton"
NO_SCOPE_EVENTS = {"app_home_opened"}


def test_the_manifest_at_the_root_is_valid_and_is_the_one_installed() -> None:
    root = yaml.safe_load((ROOT / "manifest.yml").read_text())
    jsonschema.validate(root, SCHEMA)
    assert load_manifest() == root
    # One copy: the package's manifest is a link to the root's, never a second file.
    assert MANIFEST.is_symlink() and MANIFEST.readlink() == Path("..", "manifest.yml")
    assert not (ROOT / "manifest.yml").is_symlink()


def test_the_manifest_asks_for_every_scope_baton_needs_and_no_other() -> None:
    granted = set(bot_scopes())
    for method, kinds in CALLS.items():
        for kind in kinds or (None,):
            needed = scope_for(method, kind)
            assert needed is None or needed in granted, (method, kind, needed)
    assert granted == needed_scopes()
    assert {"chat:write", "im:write", "files:write", "users:read", "commands"} <= granted


def test_every_subscribed_event_has_its_scope() -> None:
    manifest = load_manifest()
    scopes = set(bot_scopes())
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert event in NO_SCOPE_EVENTS or EVENT_SCOPES[event] in scopes, event
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
    assert refused.returncode == 2
    assert "https" in refused.stderr
