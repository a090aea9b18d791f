"""Slack's bot-token scopes: which one each Web API method needs (shared/slack/FACTS.md,
"Scopes per method"), which methods Baton calls, and what Baton uses each scope for.

The one place these are declared: the manifest must ask for exactly the scopes Baton
needs (checked by tests/bot/test_scopes.py), the Slack stand-in refuses a method whose scope
is not granted, and ``baton doctor`` names each scope a token lacks with what it is for.
"""

from enum import StrEnum


class Kind(StrEnum):
    """Kinds of conversation: some methods need the scope of the kind they are called on."""

    public = "public"  # a public channel
    private = "private"  # a private channel
    im = "im"  # a DM between the bot and one person
    mpim = "mpim"  # a group DM


def _by_kind(verb: str) -> dict[Kind, str]:
    return {
        Kind.public: f"channels:{verb}",
        Kind.private: f"groups:{verb}",
        Kind.im: f"im:{verb}",
        Kind.mpim: f"mpim:{verb}",
    }


# Slack's rules. A method needs one scope whatever it is called on, the scope of the kind of
# conversation it is called on, or none.
NO_SCOPE = frozenset(
    {
        "auth.test",
        "chat.getPermalink",
        "views.open",
        "views.publish",
        "views.push",
        "views.update",
        "apps.connections.open",  # the app-level token's connections:write, not a bot scope
    }
)
ONE_SCOPE: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.getPresence": "users:read",
    "users.lookupByEmail": "users:read.email",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
    "usergroups.list": "usergroups:read",
    "dnd.info": "dnd:read",
    "team.info": "team:read",
}
KIND_SCOPE: dict[str, dict[Kind, str]] = {
    "conversations.history": _by_kind("history"),
    "conversations.replies": _by_kind("history"),
    "conversations.info": _by_kind("read"),
    "conversations.members": _by_kind("read"),
    "conversations.open": {Kind.im: "im:write", Kind.mpim: "mpim:write"},
}

# What Baton calls, and for the methods whose scope depends on it, on which kinds of
# conversation. A DM is posted with chat.postMessage and the person's id (chat:write alone);
# conversations.open is only for finding that DM's id, to look in it before sending again a
# DM whose first attempt may have been sent.
CALLS: dict[str, tuple[Kind, ...]] = {
    "auth.test": (),
    "apps.connections.open": (),  # Socket Mode, with the app-level token
    "chat.postMessage": (),
    "chat.update": (),
    "chat.postEphemeral": (),
    "chat.getPermalink": (),
    "conversations.open": (Kind.im,),
    "conversations.history": (Kind.public, Kind.private, Kind.im),
    "conversations.replies": (Kind.public, Kind.private),
    "conversations.info": (Kind.public, Kind.private),
    "conversations.members": (Kind.public, Kind.private),
    "users.info": (),
    "users.lookupByEmail": (),
    "reactions.add": (),
    "reactions.remove": (),
    "views.open": (),
    "views.publish": (),
    "files.getUploadURLExternal": (),
    "files.completeUploadExternal": (),
    "files.info": (),
}

# The events Baton subscribes to that need a scope, and the slash command's scope.
EVENT_SCOPES: dict[str, str] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
}
COMMANDS = "commands"
DOWNLOADS = "files:read"  # downloading a file's url_private_download, as files.info needs

# What each scope Baton needs is for, as an operator missing it would want to hear.
PURPOSES: dict[str, str] = {
    "chat:write": "posting cards, thread messages, alerts, reminders and the digest",
    "channels:history": "reading card threads and receiving replies in public channels",
    "groups:history": "reading card threads and receiving replies in private channels",
    "im:history": "receiving DMs, and checking a retried DM was not sent already",
    "im:write": "finding an owner's DM to check a retried reminder was not sent already",
    "channels:read": "checking the bot's public channels and offering their members",
    "groups:read": "checking the bot's private channels and offering their members",
    "users:read": "showing agents by their Slack names",
    "users:read.email": "finding the agent an email address names",
    "reactions:write": "marking an agent's reply delivered or failed",
    "files:write": "uploading customers' attachments into card threads, and the digest's chart",
    "files:read": "sending agents' files to customers",
    COMMANDS: "the /escalations command",
}


def kind_of(channel: str) -> Kind:
    """A conversation's kind as far as its id tells it: D… is a DM, G… a (legacy) private
    channel or group DM, anything else a channel."""
    if channel.startswith("D"):
        return Kind.im
    if channel.startswith("G"):
        return Kind.private
    return Kind.public


def scope_for(method: str, kind: Kind | None = None) -> str | None:
    """The scope ``method`` needs (on a conversation of ``kind``), None if it needs none.
    KeyError for a method these tables do not know, or a kind it cannot be called on."""
    if method in NO_SCOPE:
        return None
    if method in ONE_SCOPE:
        return ONE_SCOPE[method]
    return KIND_SCOPE[method][kind or Kind.public]


def needed_scopes() -> set[str]:
    """Every scope Baton's calls, events and slash command need."""
    needed = {scope_for(method, kind) for method, kinds in CALLS.items() for kind in kinds}
    needed |= {scope_for(method) for method, kinds in CALLS.items() if not kinds}
    needed |= set(EVENT_SCOPES.values()) | {COMMANDS, DOWNLOADS}
    return {scope for scope in needed if scope is not None}
