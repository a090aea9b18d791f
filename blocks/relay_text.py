"""What the customer reads of a message written in Slack.

Slack sends a person's message twice over: as mrkdwn ``text`` (``&amp;``-escaped, with
``<@U…>``, ``<url|label>`` and ``:emoji:`` codes) and, from its clients, as ``rich_text``
blocks that carry the same as structure. The blocks are the source when there are any; the
text otherwise (it is first read into the same structure). Either way the message becomes
two texts: ``content``, what a person reads in Slack with no markup left, and ``markdown``,
the same with its formatting kept as CommonMark (``~~strike~~`` as GitHub writes it).

Names are not looked up here: the caller asks ``mentioned`` which people and channels a
message names, resolves them, and passes them in as ``Names``.
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import Any

import emoji

Element = dict[str, Any]

# The order marks go on, innermost first: `code`, ~~strike~~, *italic*, **bold**.
_MARKS = (("strike", "~~"), ("italic", "*"), ("bold", "**"))
_BULLETS = ("•", "◦", "▪")
_SKIN_TONES = {n: chr(0x1F3FB + n - 2) for n in range(2, 7)}  # Slack's skin-tone-2 … 6


@dataclass(frozen=True)
class Names:
    """Names for the ids a message mentions: user id → display name, channel id → name
    (without ``#``), user group id → handle (without ``@``). An id left out is shown as is."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    usergroups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mentioned:
    """The ids a message names whose names only Slack knows."""

    users: frozenset[str]
    channels: frozenset[str]


@dataclass(frozen=True)
class RelayText:
    content: str
    markdown: str


def relay_text(message: Mapping[str, Any], names: Names | None = None) -> RelayText:
    """``content`` and ``markdown`` of a Slack message (an event's ``message`` object)."""
    names = _with_names_from_text(names or Names(), message.get("text") or "")
    elements = _rich_text(message)
    parts = [_render_block(element, names) for element in elements]
    content = "\n".join(plain for plain, _ in parts if plain)
    pairs = [(element, md) for element, (_, md) in zip(elements, parts, strict=True)]
    markdown = _join_markdown(pairs)
    return RelayText(content.strip("\n"), markdown.strip("\n"))


def mentioned(message: Mapping[str, Any]) -> Mentioned:
    """The users and channels to resolve before ``relay_text``: every user mentioned, and
    the channels whose name the message itself does not carry."""
    users: set[str] = set()
    channels: set[str] = set()
    for element in _inline_elements(_rich_text(message)):
        if element.get("type") == "user" and element.get("user_id"):
            users.add(element["user_id"])
        elif element.get("type") == "channel" and not element.get("name"):
            channels.add(str(element.get("channel_id") or ""))
    named = _with_names_from_text(Names(), message.get("text") or "").channels
    return Mentioned(frozenset(users), frozenset(channels - set(named) - {""}))


# ------------------------------------------------------------------------ the structure


def _rich_text(message: Mapping[str, Any]) -> list[Element]:
    """The message's rich_text elements (sections, lists, code, quotes), read from its
    mrkdwn text when it has no rich_text block."""
    found = [
        element
        for block in message.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "rich_text"
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]
    return found or _from_mrkdwn(message.get("text") or "")


def _inline_elements(elements: Iterable[Element]) -> Iterator[Element]:
    for element in elements:
        if element.get("type") == "rich_text_list":
            yield from _inline_elements(element.get("elements") or [])
        else:
            yield from (e for e in element.get("elements") or [] if isinstance(e, dict))


def _with_names_from_text(names: Names, text: str) -> Names:
    """A mrkdwn text names channels (``<#C1|general>``) and user groups
    (``<!subteam^S1|@support>``) that rich_text gives as bare ids: the names passed in win."""
    channels = {m[1]: m[2] for m in re.finditer(r"<#([CG][A-Z0-9]+)\|([^>]+)>", text)}
    groups = {m[1]: m[2] for m in re.finditer(r"<!subteam\^([A-Z0-9]+)\|@?([^>]+)>", text)}
    return Names(names.users, {**channels, **names.channels}, {**groups, **names.usergroups})


# ------------------------------------------------------------------ mrkdwn → structure

_FENCE = "```"
_QUOTE = re.compile(r"^(?:&gt;|>) ?")
_BULLET_LINE = re.compile(r"^( *)[•◦▪]\ufe0e? (.*)$")
_TOKEN = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|:(?P<emoji>[a-z0-9_+'\-]+):(?::skin-tone-(?P<tone>[2-6]):)?"
)
_PLACEHOLDER = 0xE000  # private-use characters stand for tokens while marks are found


def _emphasis(mark: str) -> re.Pattern[str]:
    """Slack's rule: the marks hug the words, and stand apart from the words around."""
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=\S)(.+?)(?<=\S){m}(?![\w{m}])")


_EMPHASIS = {"bold": _emphasis("*"), "italic": _emphasis("_"), "strike": _emphasis("~")}


def _from_mrkdwn(text: str) -> list[Element]:
    elements: list[Element] = []
    pieces = text.split(_FENCE)
    if len(pieces) % 2 == 0:  # an unclosed fence is text
        pieces[-2:] = [pieces[-2] + _FENCE + pieces[-1]]
    for index, piece in enumerate(pieces):
        if index % 2:
            code = _decode(piece.strip("\n"))
            if code:
                pre = {"type": "text", "text": code}
                elements.append({"type": "rich_text_preformatted", "elements": [pre]})
        else:
            elements.extend(_mrkdwn_lines(piece.strip("\n")))
    return elements


def _mrkdwn_lines(text: str) -> list[Element]:
    """Consecutive lines of one kind (quoted, bulleted, plain) become one element."""
    elements: list[Element] = []
    kind, lines = "", list[str]()

    def flush() -> None:
        if not lines:
            return
        if kind == "quote":
            elements.append({"type": "rich_text_quote", "elements": _inline("\n".join(lines))})
        elif kind == "section":
            elements.append({"type": "rich_text_section", "elements": _inline("\n".join(lines))})
        lines.clear()

    for line in text.split("\n") if text else []:
        bullet = _BULLET_LINE.match(line)
        if bullet:
            flush()
            kind = "list"
            item = {"type": "rich_text_section", "elements": _inline(bullet[2])}
            indent = len(bullet[1]) // 4
            elements.append(
                {"type": "rich_text_list", "style": "bullet", "indent": indent, "elements": [item]}
            )
            continue
        this = "quote" if _QUOTE.match(line) else "section"
        if this != kind:
            flush()
            kind = this
        lines.append(_QUOTE.sub("", line, count=1) if this == "quote" else line)
    flush()
    return elements


def _inline(text: str) -> list[Element]:
    """A mrkdwn line (or lines) as rich_text inline elements with styles."""
    tokens: list[Element] = []

    def hold(match: re.Match[str]) -> str:
        tokens.append(_token(match))
        return chr(_PLACEHOLDER + len(tokens) - 1)

    held = _TOKEN.sub(hold, text)
    chars = list(held)
    styles: list[set[str]] = [set() for _ in chars]
    for style, pattern in _EMPHASIS.items():
        line = "".join(chars)
        drop: set[int] = set()
        for match in pattern.finditer(line):
            for i in range(match.start(1), match.end(1)):
                styles[i].add(style)
            drop.update((match.start(), match.end() - 1))
        chars = [c for i, c in enumerate(chars) if i not in drop]
        styles = [s for i, s in enumerate(styles) if i not in drop]
    elements: list[Element] = []
    run, run_style = "", frozenset[str]()
    for char, marks in zip(chars, styles, strict=True):
        token = ord(char) - _PLACEHOLDER
        if 0 <= token < len(tokens) or frozenset(marks) != run_style:
            if run:
                elements.append(_styled({"type": "text", "text": _decode(run)}, run_style))
            run, run_style = "", frozenset(marks)
        if 0 <= token < len(tokens):
            elements.append(_styled(tokens[token], frozenset(marks)))
        else:
            run += char
    if run:
        elements.append(_styled({"type": "text", "text": _decode(run)}, run_style))
    return elements


def _styled(element: Element, style: frozenset[str]) -> Element:
    mine = {k for k, v in (element.get("style") or {}).items() if v}
    both = mine | style
    return {**element, "style": dict.fromkeys(sorted(both), True)} if both else element


def _token(match: re.Match[str]) -> Element:
    if match["code"] is not None:
        return {"type": "text", "text": _decode(match["code"]), "style": {"code": True}}
    if match["emoji"] is not None:
        element: Element = {"type": "emoji", "name": match["emoji"]}
        if match["tone"]:
            element["skin_tone"] = int(match["tone"])
        return element
    return _angle(_decode(match["angle"]))


def _angle(inside: str) -> Element:
    target, _, label = inside.partition("|")
    if target.startswith("@"):
        return {"type": "user", "user_id": target[1:], "name": label.lstrip("@")}
    if target.startswith("#"):
        return {"type": "channel", "channel_id": target[1:], "name": label.lstrip("#")}
    if target.startswith("!"):
        command, _, argument = target[1:].partition("^")
        if command in ("here", "channel", "everyone"):
            return {"type": "broadcast", "range": command}
        if command == "subteam":
            return {"type": "usergroup", "usergroup_id": argument, "handle": label.lstrip("@")}
        return {"type": "text", "text": label or f"<{inside}>"}
    return {"type": "link", "url": target, "text": label}


def _decode(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], text)


# ------------------------------------------------------------------ structure → texts


def _render_block(element: Element, names: Names) -> tuple[str, str]:
    kind = element.get("type")
    inline = [e for e in element.get("elements") or [] if isinstance(e, dict)]
    if kind == "rich_text_preformatted":
        raw = "".join(_pieces(e, names)[0] for e in inline)
        return raw, _fenced(raw)
    if kind == "rich_text_list":
        return _render_list(element, names)
    plain, markdown = _render_inline(inline, names)
    if kind == "rich_text_quote":
        return _prefixed(plain, "> "), _prefixed(markdown, "> ")
    return plain, markdown


def _render_list(element: Element, names: Names) -> tuple[str, str]:
    indent = max(0, int(element.get("indent") or 0))
    ordered = element.get("style") == "ordered"
    first = int(element.get("offset") or 0) + 1
    plain_lines, md_lines = [], []
    for number, item in enumerate(element.get("elements") or [], start=first):
        if not isinstance(item, dict):
            continue
        plain, markdown = _render_inline(
            [e for e in item.get("elements") or [] if isinstance(e, dict)], names
        )
        plain_marker = f"{number}. " if ordered else f"{_BULLETS[indent % len(_BULLETS)]} "
        md_marker = f"{number}. " if ordered else "- "
        plain_lines.append(_hanging(" " * 4 * indent + plain_marker, plain))
        # CommonMark nests a list under its parent item's text: three columns suit both.
        md_lines.append(_hanging(" " * 3 * indent + md_marker, markdown))
    return "\n".join(plain_lines), "\n".join(md_lines)


def _hanging(marker: str, text: str) -> str:
    return marker + text.replace("\n", "\n" + " " * len(marker))


def _prefixed(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.split("\n"))


def _join_markdown(parts: list[tuple[Element, str]]) -> str:
    """Blocks apart by a blank line; items of one list (split by their indent) close."""
    out = ""
    previous: Element | None = None
    for element, markdown in parts:
        if not markdown:
            continue
        if previous is not None:
            lists = previous.get("type") == element.get("type") == "rich_text_list"
            out += "\n" if lists else "\n\n"
        out += markdown
        previous = element
    return out


@dataclass
class _Run:
    style: frozenset[str]
    plain: str
    markdown: str  # the escaped literal; a code run is set from ``plain``


def _render_inline(elements: list[Element], names: Names) -> tuple[str, str]:
    runs: list[_Run] = []
    for element in elements:
        plain, markdown = _pieces(element, names)
        style = frozenset(k for k, v in (element.get("style") or {}).items() if v)
        if runs and runs[-1].style == style:
            runs[-1].plain += plain
            runs[-1].markdown += markdown
        else:
            runs.append(_Run(style, plain, markdown))
    plain = "".join(run.plain for run in runs).rstrip("\n")
    markdown = "".join(_marked(run) for run in runs).rstrip("\n")
    return plain, _hard_breaks(_escape_line_starts(markdown))


def _marked(run: _Run) -> str:
    """The run with its marks, line by line (emphasis cannot span a paragraph), and with
    the spaces at its ends outside them (``** bold **`` is no emphasis in CommonMark)."""
    source = run.plain if "code" in run.style else run.markdown
    lines = []
    for line in source.split("\n"):
        body = line.strip()
        if not body:
            lines.append(line)
            continue
        lead, trail = line[: len(line) - len(line.lstrip())], line[len(line.rstrip()) :]
        marked = _code_span(body) if "code" in run.style else body
        for style, mark in _MARKS:
            if style in run.style:
                marked = f"{mark}{marked}{mark}"
        lines.append(lead + marked + trail)
    return "\n".join(lines)


def _pieces(element: Element, names: Names) -> tuple[str, str]:
    """One inline element as (plain, escaped markdown)."""
    kind = element.get("type")
    if kind == "text":
        text = str(element.get("text") or "")
        return text, _escape(text)
    if kind == "link":
        return _link(str(element.get("url") or ""), str(element.get("text") or ""))
    if kind == "user":
        uid = str(element.get("user_id") or "")
        name = names.users.get(uid) or element.get("name") or uid
        return f"@{name}", _escape(f"@{name}")
    if kind == "usergroup":
        gid = str(element.get("usergroup_id") or "")
        handle = names.usergroups.get(gid) or element.get("handle") or gid
        return f"@{handle}", _escape(f"@{handle}")
    if kind == "channel":
        cid = str(element.get("channel_id") or "")
        name = names.channels.get(cid) or element.get("name") or cid
        return f"#{name}", _escape(f"#{name}")
    if kind == "broadcast":
        return f"@{element.get('range') or 'here'}", _escape(f"@{element.get('range') or 'here'}")
    if kind == "emoji":
        found = _emoji_element(element)
        return found, _escape(found)
    if kind == "date":
        text = str(element.get("fallback") or _date(element.get("timestamp")))
        return text, _escape(text)
    if kind == "color":
        return str(element.get("value") or ""), _escape(str(element.get("value") or ""))
    text = str(element.get("text") or "")
    return text, _escape(text)


def _link(url: str, label: str) -> tuple[str, str]:
    address = url.removeprefix("mailto:") if url.startswith("mailto:") else None
    label = label.strip()
    if address is not None and label in ("", address, url):
        return address, f"<{address}>" if _autolinkable(address) else _escape(address)
    if label in ("", url):
        return url, f"<{url}>" if _autolinkable(url) else f"[{_escape(url)}]({_destination(url)})"
    plain = f"{label} ({address or url})"
    return plain, f"[{_escape(label)}]({_destination(url)})"


def _autolinkable(target: str) -> bool:
    return not re.search(r"[\s<>]", target) and bool(target)


def _destination(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


def _date(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


# ----------------------------------------------------------------------------- emoji


def _emoji_element(element: Element) -> str:
    code_points = str(element.get("unicode") or "")
    if code_points:
        try:
            return "".join(chr(int(p, 16)) for p in code_points.split("-"))
        except ValueError:
            pass
    name = str(element.get("name") or "")
    tone = element.get("skin_tone")
    found = _emoji(name)
    if found is None:
        return f":{name}:" + (f":skin-tone-{tone}:" if tone else "")
    return _toned(found, tone) if isinstance(tone, int) else found


@lru_cache(maxsize=4096)
def _emoji(name: str) -> str | None:
    """The Unicode emoji for a Slack emoji name, from the ``emoji`` package's names and
    aliases (Slack writes some names with hyphens, and flags as ``flag-vn``); None for a
    workspace's custom emoji and other unknown names."""
    if name.startswith("skin-tone-") and name[10:].isdigit():
        return _SKIN_TONES.get(int(name[10:]))
    for candidate in dict.fromkeys((name, name.replace("-", "_"))):
        for language in ("alias", "en"):
            found = emoji.emojize(f":{candidate}:", language=language)
            if found != f":{candidate}:":
                return found
    flag = re.fullmatch(r"flag-([a-z]{2})", name)
    if flag:
        chars = "".join(chr(0x1F1E6 + ord(c) - ord("a")) for c in flag[1])
        return chars if emoji.is_emoji(chars) else None
    return None


def _toned(found: str, tone: int) -> str:
    modifier = _SKIN_TONES.get(tone)
    if modifier is None:
        return found
    rest = found[1:].removeprefix("\ufe0f")
    return found[0] + modifier + rest


# -------------------------------------------------------------------------- markdown

_SPECIAL = re.compile(r"([\\`*_\[\]<~])")
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
_BLOCK_MARK = re.compile(r"^( {0,3})([#>+\-=])", re.MULTILINE)
_ORDERED_MARK = re.compile(r"^( {0,3}\d{1,9})([.)])", re.MULTILINE)


def _escape(text: str) -> str:
    """Literal text in CommonMark: what would otherwise start emphasis, code, a link, an
    autolink or an entity is backslash-escaped."""
    return _ENTITY.sub(r"\\&", _SPECIAL.sub(r"\\\1", text))


def _escape_line_starts(markdown: str) -> str:
    """What would start a heading, a quote, a list or a thematic break at a line's start."""
    return _ORDERED_MARK.sub(r"\1\\\2", _BLOCK_MARK.sub(r"\1\\\2", markdown))


def _hard_breaks(markdown: str) -> str:
    """A single newline is a line break in Slack, a space in CommonMark: mark it as a break."""
    lines = markdown.split("\n")
    out = lines[0]
    for before, line in pairwise(lines):
        out += ("\\\n" if before.strip() and line.strip() else "\n") + line
    return out


def _code_span(text: str) -> str:
    ticks = "`" * (max((len(t) for t in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fenced(code: str) -> str:
    fence = "`" * max(3, max((len(t) for t in re.findall(r"`{3,}", code)), default=0) + 1)
    return f"{fence}\n{code}\n{fence}"
