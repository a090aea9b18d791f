"""Slack messages as the customer reads them: ``content`` (plain) and ``markdown``
(CommonMark), from rich_text blocks when Slack sends them and from mrkdwn text otherwise.
The shapes are Slack's: what its clients send for what people type."""

from typing import Any, NamedTuple

import pytest

from blocks.relay_text import Mentioned, Names, mentioned, relay_text

NAMES = Names(
    users={"U0ANN": "Ann", "U0LAN": "Lan", "U024BE7LH": "Minh Trần"},
    channels={"C0GENERAL": "general"},
)


def rich(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    """One rich_text block, as Slack's client attaches it to a message."""
    return [{"type": "rich_text", "block_id": "Bk1", "elements": list(elements)}]


def section(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rich_text_section", "elements": list(elements)}


def text(value: str, **style: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "text", "text": value}
    if style:
        element["style"] = style
    return element


def items(style: str, indent: int, *texts: str, offset: int = 0) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "rich_text_list",
        "style": style,
        "indent": indent,
        "elements": [section(text(t)) for t in texts],
    }
    if offset:
        element["offset"] = offset
    return element


class Case(NamedTuple):
    name: str
    message: dict[str, Any]
    content: str
    markdown: str


def mrkdwn(name: str, value: str, content: str, markdown: str | None = None) -> Case:
    """A message with text only (an API client, an older app, a workflow)."""
    return Case(name, {"type": "message", "text": value}, content, markdown or content)


def blocks(
    name: str, value: str, block_list: list[Any], content: str, markdown: str | None = None
) -> Case:
    return Case(
        name, {"type": "message", "text": value, "blocks": block_list}, content, markdown or content
    )


ISSUE = "Q&amp;A: see <https://help.example.com/refund|refund page>, ask <@U0LAN>"

CASES = [
    # ------------------------------------------------------------------ mrkdwn text
    mrkdwn("plain", "Hello there", "Hello there"),
    mrkdwn("entities", "Q&amp;A: 2 &lt; 3 &gt; 1", "Q&A: 2 < 3 > 1", "Q&A: 2 \\< 3 > 1"),
    mrkdwn(
        "the issue's reply",
        ISSUE,
        "Q&A: see refund page (https://help.example.com/refund), ask @Lan",
        "Q&A: see [refund page](https://help.example.com/refund), ask @Lan",
    ),
    mrkdwn(
        "link with &amp; in the query",
        "See <https://shop.example/search?q=red+shoes&amp;page=2|the results>",
        "See the results (https://shop.example/search?q=red+shoes&page=2)",
        "See [the results](https://shop.example/search?q=red+shoes&page=2)",
    ),
    mrkdwn(
        "bare link",
        "Docs: <https://docs.example/a_b?x=1&amp;y=2>",
        "Docs: https://docs.example/a_b?x=1&y=2",
        "Docs: <https://docs.example/a_b?x=1&y=2>",
    ),
    mrkdwn(
        "label is the url",
        "<https://acme.example|https://acme.example>",
        "https://acme.example",
        "<https://acme.example>",
    ),
    mrkdwn(
        "mailto labelled with the address",
        "Write to <mailto:help@acme.example|help@acme.example>",
        "Write to help@acme.example",
        "Write to <help@acme.example>",
    ),
    mrkdwn(
        "mailto with its own label",
        "<mailto:help@acme.example|write to us>",
        "write to us (help@acme.example)",
        "[write to us](mailto:help@acme.example)",
    ),
    mrkdwn("unknown user stays an id", "ask <@U0NOBODY>", "ask @U0NOBODY"),
    mrkdwn("legacy user mention with a name", "cc <@U0XYZ|zoe>", "cc @zoe"),
    mrkdwn(
        "user with a name from the people cache", "<@U024BE7LH> will call", "@Minh Trần will call"
    ),
    mrkdwn(
        "channels with and without a name",
        "see <#C0SUPPORT|support> and <#C0OTHER|>",
        "see #support and #C0OTHER",
        "see #support and #C0OTHER",
    ),
    mrkdwn("broadcasts", "<!here> <!channel> <!everyone>", "@here @channel @everyone"),
    mrkdwn("legacy broadcast with a label", "<!here|here> anyone?", "@here anyone?"),
    mrkdwn("user group", "<!subteam^S0SUPPORT|@support> please look", "@support please look"),
    mrkdwn("user group without its handle", "<!subteam^S0SUPPORT>", "@S0SUPPORT"),
    mrkdwn(
        "date with its fallback",
        "Due <!date^1392734382^{date_num} {time_secs}|2014-02-18 6:39:42 AM PST>",
        "Due 2014-02-18 6:39:42 AM PST",
    ),
    mrkdwn(
        "emphasis",
        "*bold* _italic_ ~strike~ `code`",
        "bold italic strike code",
        "**bold** *italic* ~~strike~~ `code`",
    ),
    mrkdwn(
        "marks inside words are literal",
        "use snake_case_name and 2*3*4",
        "use snake_case_name and 2*3*4",
        "use snake\\_case\\_name and 2\\*3\\*4",
    ),
    mrkdwn(
        "emphasis around a link",
        "*read <https://acme.example/faq|the FAQ>*",
        "read the FAQ (https://acme.example/faq)",
        "**read [the FAQ](https://acme.example/faq)**",
    ),
    mrkdwn("code keeps its markup", "`a &lt; b &amp;&amp; *c*`", "a < b && *c*", "`a < b && *c*`"),
    mrkdwn(
        "code block",
        "```\nSELECT * FROM t WHERE a &gt; 1;\n```",
        "SELECT * FROM t WHERE a > 1;",
        "```\nSELECT * FROM t WHERE a > 1;\n```",
    ),
    mrkdwn(
        "code block between lines",
        "Run this:\n```npm install```\nthen restart",
        "Run this:\nnpm install\nthen restart",
        "Run this:\n\n```\nnpm install\n```\n\nthen restart",
    ),
    mrkdwn("unclosed fence is text", "```oops", "```oops", "\\`\\`\\`oops"),
    mrkdwn(
        "quote",
        "&gt; I was charged twice\nSorry about that!",
        "> I was charged twice\nSorry about that!",
        "> I was charged twice\n\nSorry about that!",
    ),
    mrkdwn(
        "bullets as Slack writes them in text",
        "Steps:\n• open the app\n• tap *Refund*",
        "Steps:\n• open the app\n• tap Refund",
        "Steps:\n\n- open the app\n- tap **Refund**",
    ),
    mrkdwn("emoji", ":white_check_mark: done :tada:", "✅ done 🎉"),
    mrkdwn("emoji with a skin tone", ":+1::skin-tone-3: thanks", "👍🏼 thanks"),
    mrkdwn("emoji only", ":heart:", "❤️"),
    mrkdwn("slack's hyphenated names", ":flag-vn: :woman-facepalming:", "🇻🇳 🤦‍♀️"),
    mrkdwn("custom emoji stays a code", ":partyparrot: shipped", ":partyparrot: shipped"),
    mrkdwn("times are not emoji", "call at 10:30:45", "call at 10:30:45"),
    mrkdwn(
        "right-to-left text",
        "مرحبا، كيف يمكنني مساعدتك؟ :slightly_smiling_face:",
        "مرحبا، كيف يمكنني مساعدتك؟ 🙂",
    ),
    mrkdwn(
        "lines",
        "Chào bạn,\nmình là *Ann*",
        "Chào bạn,\nmình là Ann",
        "Chào bạn,\\\nmình là **Ann**",
    ),
    mrkdwn(
        "what would start a heading or a list",
        "# 1 priority\n1. not a list\n- nor this",
        "# 1 priority\n1. not a list\n- nor this",
        "\\# 1 priority\\\n1\\. not a list\\\n\\- nor this",
    ),
    mrkdwn(
        "an entity typed literally",
        "type &amp;copy; as is",
        "type &copy; as is",
        "type \\&copy; as is",
    ),
    mrkdwn("nothing", "", ""),
    # ------------------------------------------------------------------- rich_text
    blocks(
        "the issue's reply as Slack sends it",
        ISSUE,
        rich(
            section(
                text("Q&A: see "),
                {"type": "link", "url": "https://help.example.com/refund", "text": "refund page"},
                text(", ask "),
                {"type": "user", "user_id": "U0LAN"},
            )
        ),
        "Q&A: see refund page (https://help.example.com/refund), ask @Lan",
        "Q&A: see [refund page](https://help.example.com/refund), ask @Lan",
    ),
    blocks(
        "nested styles",
        "*bold* *_both_* ~gone~ `x = 1`",
        rich(
            section(
                text("bold", bold=True),
                text(" "),
                text("both", bold=True, italic=True),
                text(" "),
                text("gone", strike=True),
                text(" "),
                text("x = 1", code=True),
            )
        ),
        "bold both gone x = 1",
        "**bold** ***both*** ~~gone~~ `x = 1`",
    ),
    blocks(
        "space at the end of a bold run",
        "*Important:* read this",
        rich(section(text("Important: ", bold=True), text("read this"))),
        "Important: read this",
        "**Important:** read this",
    ),
    blocks(
        "a bold link",
        "*<https://a.example|docs>*",
        rich(
            section(
                {
                    "type": "link",
                    "url": "https://a.example",
                    "text": "docs",
                    "style": {"bold": True},
                }
            )
        ),
        "docs (https://a.example)",
        "**[docs](https://a.example)**",
    ),
    blocks(
        "a link without a label",
        "<https://a.example/x?y=1&amp;z=2>",
        rich(section({"type": "link", "url": "https://a.example/x?y=1&z=2"})),
        "https://a.example/x?y=1&z=2",
        "<https://a.example/x?y=1&z=2>",
    ),
    blocks(
        "mentions of every kind",
        "<@U0ANN> <#C0GENERAL|> <!subteam^S0SUP|@support> <!here>",
        rich(
            section(
                {"type": "user", "user_id": "U0ANN"},
                text(" "),
                {"type": "channel", "channel_id": "C0GENERAL"},
                text(" "),
                {"type": "usergroup", "usergroup_id": "S0SUP"},
                text(" "),
                {"type": "broadcast", "range": "here"},
            )
        ),
        "@Ann #general @support @here",
    ),
    blocks(
        "emoji with its code points and skin tone",
        ":wave::skin-tone-4: hi",
        rich(
            section(
                {"type": "emoji", "name": "wave", "unicode": "1f44b-1f3fd", "skin_tone": 4},
                text(" hi"),
            )
        ),
        "👋🏽 hi",
    ),
    blocks(
        "emoji by name with a skin tone",
        ":thumbsup::skin-tone-6:",
        rich(section({"type": "emoji", "name": "thumbsup", "skin_tone": 6})),
        "👍🏿",
    ),
    blocks(
        "a workspace's own emoji",
        ":shipit:",
        rich(section({"type": "emoji", "name": "shipit"})),
        ":shipit:",
    ),
    blocks(
        "bullet list with a nested item",
        "Checklist:\n• a\n• b\n    ◦ b1\n• c",
        rich(
            section(text("Checklist:")),
            items("bullet", 0, "a", "b"),
            items("bullet", 1, "b1"),
            items("bullet", 0, "c"),
        ),
        "Checklist:\n• a\n• b\n    ◦ b1\n• c",
        "Checklist:\n\n- a\n- b\n   - b1\n- c",
    ),
    blocks(
        "ordered list carried on after a nested one",
        "1. first\n2. second\n    ◦ note\n3. third",
        rich(
            items("ordered", 0, "first", "second"),
            items("bullet", 1, "note"),
            items("ordered", 0, "third", offset=2),
        ),
        "1. first\n2. second\n    ◦ note\n3. third",
        "1. first\n2. second\n   - note\n3. third",
    ),
    blocks(
        "code block holding backticks",
        "```echo `date`\n```",
        rich(
            {"type": "rich_text_preformatted", "elements": [text("echo `date`\n```")], "border": 0}
        ),
        "echo `date`\n```",
        "````\necho `date`\n```\n````",
    ),
    blocks(
        "quote then an answer",
        "&gt; I was charged twice\nSorry about that!",
        rich(
            {"type": "rich_text_quote", "elements": [text("I was charged twice")]},
            section(text("Sorry about that!")),
        ),
        "> I was charged twice\nSorry about that!",
        "> I was charged twice\n\nSorry about that!",
    ),
    blocks(
        "right-to-left with a mention",
        "שלום <@U0ANN>",
        rich(section(text("שלום "), {"type": "user", "user_id": "U0ANN"})),
        "שלום @Ann",
    ),
    blocks(
        "markdown's own characters typed literally",
        "Use *args and [brackets] &lt;tags&gt; _x_ ~y~ \\path",
        rich(section(text("Use *args and [brackets] <tags> _x_ ~y~ \\path"))),
        "Use *args and [brackets] <tags> _x_ ~y~ \\path",
        "Use \\*args and \\[brackets\\] \\<tags> \\_x\\_ \\~y\\~ \\\\path",
    ),
    blocks(
        "lines and paragraphs",
        "line one\nline two\n\nnew paragraph",
        rich(section(text("line one\nline two\n\nnew paragraph"))),
        "line one\nline two\n\nnew paragraph",
        "line one\\\nline two\n\nnew paragraph",
    ),
    blocks(
        "a date",
        "<!date^1720710212^{date_short}|Jul 11, 2024>",
        rich(
            section(
                {
                    "type": "date",
                    "timestamp": 1720710212,
                    "format": "{date_short}",
                    "fallback": "Jul 11, 2024",
                }
            )
        ),
        "Jul 11, 2024",
    ),
    blocks(
        "code holding a backtick",
        "`a`b`",
        rich(section(text("a`b", code=True))),
        "a`b",
        "``a`b``",
    ),
    blocks("an empty section (files only)", "", rich(section()), "", ""),
    blocks(
        "other blocks only: the text is the source",
        "*Deploy* done",
        [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}}],
        "Deploy done",
        "**Deploy** done",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_content_and_markdown(case: Case) -> None:
    said = relay_text(case.message, NAMES)
    assert said.content == case.content
    assert said.markdown == case.markdown


def test_there_are_enough_real_shapes() -> None:
    assert len(CASES) >= 40


def test_mentioned_names_what_the_caller_must_look_up() -> None:
    message = {
        "text": "<@U0ANN> <#C0GENERAL|general> <#C0NEW|> <@U0BOB>",
        "blocks": rich(
            section(
                {"type": "user", "user_id": "U0ANN"},
                {"type": "channel", "channel_id": "C0GENERAL"},
                {"type": "channel", "channel_id": "C0NEW"},
            ),
            {
                "type": "rich_text_list",
                "style": "bullet",
                "indent": 0,
                "elements": [section({"type": "user", "user_id": "U0BOB"})],
            },
        ),
    }
    # The text names #general already; C0NEW only Slack can name.
    assert mentioned(message) == Mentioned(frozenset({"U0ANN", "U0BOB"}), frozenset({"C0NEW"}))
    assert mentioned({"text": "cc <@U0ANN> in <#C0X>"}) == Mentioned(
        frozenset({"U0ANN"}), frozenset({"C0X"})
    )


def test_names_passed_in_win_over_those_in_the_text() -> None:
    message = {"text": "<#C0GENERAL|old-name>"}
    assert relay_text(message, NAMES).content == "#general"
    assert relay_text(message).content == "#old-name"
