"""bot.scopes declares every Web API method Baton calls, so that the manifest, the stand-in
and ``baton doctor`` all know the scopes Baton needs: checked against the product's code."""

import ast
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.scopes import CALLS, COMMANDS, EVENT_SCOPES, PURPOSES, needed_scopes, scope_for

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "blocks", "bot", "scheduler", "storage")
NOT_CALLERS = {ROOT / "bot" / "standin.py"}  # it answers the methods, it does not call them
# slack_sdk helpers that make several Web API calls.
HELPERS = {"files_upload_v2": ["files.getUploadURLExternal", "files.completeUploadExternal"]}


def _sdk_method(attribute: str) -> list[str]:
    """The Web API methods a slack_sdk client method calls; [] if it is not one."""
    if attribute in HELPERS:
        return HELPERS[attribute]
    if attribute.startswith("_") or "_" not in attribute:
        return []
    if not callable(getattr(AsyncWebClient, attribute, None)):
        return []
    return [attribute.replace("_", ".")]


def _called_in(path: Path) -> set[str]:
    """Web API methods a module calls: through a slack_sdk client method
    (``client.chat_postMessage(…)``) or by name (``self._call("chat.update", …)``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        found.update(_sdk_method(node.func.attr))
        first = node.args[0] if node.args else None
        if node.func.attr in ("_call", "api_call") and isinstance(first, ast.Constant):
            found.add(str(first.value))
    return found


def _called_by_the_product() -> dict[str, set[str]]:
    calls: dict[str, set[str]] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path not in NOT_CALLERS:
                for method in _called_in(path):
                    calls.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return calls


def test_every_web_api_method_the_product_calls_is_declared() -> None:
    called = _called_by_the_product()
    # The audit finds what it should: the sdk's client methods, the worker's calls by name.
    assert {"chat.postMessage", "chat.update", "files.completeUploadExternal"} <= called.keys()
    assert "conversations.info" in called  # baton doctor's
    undeclared = {method: where for method, where in called.items() if method not in CALLS}
    assert undeclared == {}, "add these to bot.scopes.CALLS (and their scopes to manifest.yml)"


def test_dms_need_only_chat_write_except_to_look_for_an_earlier_post() -> None:
    """Owners' DMs are chat.postMessage to their id; conversations.open (im:write) is left
    to the Slack worker's check for a DM a failed attempt may have sent."""
    called = _called_by_the_product()
    assert called["conversations.open"] == {"bot/delivery.py"}
    assert scope_for("chat.postMessage") == "chat:write"


def test_every_scope_baton_needs_says_what_it_is_for() -> None:
    needed = needed_scopes()
    assert needed == PURPOSES.keys()
    assert COMMANDS in needed and set(EVENT_SCOPES.values()) <= needed
    assert all(PURPOSES[scope].strip() for scope in needed)
