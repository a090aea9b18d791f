"""Putting text people typed into Slack messages safely.

Slack's message text treats ``<…>`` as control sequences (``<!channel>``, ``<@U…>``,
``<https://…|label>``) and ``&`` as the start of an entity. Escaping those three characters
is what Slack documents; with it, nothing a customer types can ping a channel or forge a
link.
"""

from collections.abc import Iterable

ELLIPSIS = "…"
_LONGEST_ENTITY = len("&amp;")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """For plain_text objects, which show entities literally: angle brackets become
    look-alikes, so the text reads the same and still carries no control sequence."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def truncate(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """At most ``limit`` characters, with ``marker`` where it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def escaped(text: str, limit: int) -> str:
    """Escaped, then cut to fit ``limit`` without splitting an entity like ``&amp;``."""
    safe = escape(text)
    if len(safe) <= limit:
        return safe
    cut = truncate(safe, limit)
    body = cut[: -len(ELLIPSIS)]
    amp = body.rfind("&")
    if amp != -1 and ";" not in body[amp:]:
        body = body[:amp]
    return body + ELLIPSIS


def fitting(items: Iterable[str], budget: int, separator: str = ", ") -> list[str]:
    """The leading items whose joined length (each counted with ``separator``) stays within
    ``budget``; the caller says how many more there were."""
    kept: list[str] = []
    length = 0
    for item in items:
        length += len(item) + len(separator)
        if length > budget:
            break
        kept.append(item)
    return kept


def safe_cut(safe: str, at: int) -> int:
    """The cut point at or before ``at`` that does not split an entity like ``&amp;``."""
    amp = safe.rfind("&", max(0, at - _LONGEST_ENTITY + 1), at)
    if amp != -1 and ";" not in safe[amp:at]:
        return amp
    return at


def fit_escaped(safe: str, limit: int) -> str:
    """Already-escaped ``safe`` cut to ``limit`` characters, marked, entities kept whole."""
    if len(safe) <= limit:
        return safe
    return safe[: safe_cut(safe, limit - len(ELLIPSIS))] + ELLIPSIS


def split_escaped(safe: str, size: int) -> list[str]:
    """Already-escaped ``safe`` in pieces of at most ``size``, cut at a line break or a space
    when one is near the end, never inside an entity; blank pieces are dropped."""
    pieces = []
    while len(safe) > size:
        cut = safe_cut(safe, size)
        soft = safe.rfind("\n", size // 2, cut)
        if soft == -1:
            soft = safe.rfind(" ", size // 2, cut)
        if soft != -1:
            cut = soft + 1
        pieces.append(safe[:cut])
        safe = safe[cut:]
    pieces.append(safe)
    return [piece for piece in pieces if piece.strip()]
