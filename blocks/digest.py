"""The managers' daily digest: text from the Jinja2 templates in ``templates/digest/``, laid
out as Block Kit for Slack, or as plain lines for a terminal (``baton digest --dry-run``)."""

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from blocks.card import CardMessage, mention
from blocks.durations import spoken
from blocks.slack_text import escaped, plain, truncate
from storage.models import Digest

SECTIONS = ("volume", "speed", "sla", "reasons", "agents", "waiting")
AGENTS_SHOWN = 15
SECTION_LIMIT = 3000  # Block Kit's limit on a section's text
TARGET_NAMES = {"first_take": "first take", "resolution": "resolution"}

_TEMPLATES = Path(__file__).parent / "templates" / "digest"


def _environment(name: Callable[[str], str]) -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # Slack's escaping is not HTML's: names pass through |slack
    )
    env.filters["duration"] = lambda seconds: "—" if seconds is None else spoken(seconds)
    env.filters["percent"] = lambda share: "—" if share is None else f"{round(share * 100)} %"
    env.filters["label"] = lambda word: str(word).replace("_", " ").capitalize()
    env.filters["target"] = lambda word: TARGET_NAMES.get(word, word)
    env.filters["name"] = lambda text: name(str(text))
    return env


_SLACK = _environment(lambda text: escaped(text, 200))
_TERMINAL = _environment(lambda text: truncate(text, 200))


def title(digest: Digest) -> str:
    return f"Escalations on {digest.day.day:%A %-d %B %Y}"


def _sections(
    env: Environment,
    digest: Digest,
    now: datetime,
    person: Callable[[str, str], str],
    link: Callable[[str, str], str],
) -> list[str]:
    context: dict[str, Any] = {
        "d": digest,
        "now": now,
        "agents": digest.agents[:AGENTS_SHOWN],
        "more_agents": max(0, len(digest.agents) - AGENTS_SHOWN),
        "person": person,
        "link": link,
    }
    texts = []
    for name in SECTIONS:
        text = env.get_template(f"{name}.j2").render(context).strip()
        texts.append(truncate(text, SECTION_LIMIT))
    return texts


def digest_message(digest: Digest, now: datetime, links: Mapping[str, str]) -> CardMessage:
    """For the managers' channel; ``links`` maps escalation ids to their card's permalink."""

    def link(escalation_id: str, label: str) -> str:
        url = links.get(escalation_id)
        return f"<{url}|{label}>" if url else label

    texts = _sections(_SLACK, digest, now, mention, link)
    blocks: list[Any] = [HeaderBlock(text=plain(title(digest)))]
    for index, text in enumerate(texts):
        if index in (2, 4):  # volume and speed | SLA, reasons, channels | agents, waiting
            blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=text))
    blocks.append(ContextBlock(elements=[_context(digest)]))
    summary = f"{title(digest)}: {digest.created} created, {digest.waiting_total} waiting now"
    return CardMessage(text=plain(summary), blocks=blocks)


def _context(digest: Digest) -> MarkdownTextObject:
    return MarkdownTextObject(
        text=f"A day is midnight to midnight in {escaped(digest.day.timezone, 100)}."
    )


def digest_lines(digest: Digest, now: datetime) -> list[str]:
    """The same digest for a terminal: names instead of mentions, no links."""
    texts = _sections(_TERMINAL, digest, now, lambda _id, name: name, lambda _id, label: label)
    return [title(digest), *texts]
