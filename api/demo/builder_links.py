"""The demo's Block Kit Builder links, in a file of their own: each holds the whole message
and runs to 2,000 characters or more, which no one can use as a line in a terminal."""

import html
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.demo.block_preview import builder_link

_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Baton demo: Block Kit Builder links</title>
<h1>Baton demo: each Slack message in Block Kit Builder</h1>
<p>Opening a link needs a Slack login.</p>
<ol>
{items}
</ol>
"""


def _new_path() -> Path:
    name = f"baton-demo-{secrets.token_hex(4)}-block-kit-links.html"
    return Path(tempfile.gettempdir()) / name


@dataclass
class BuilderLinks:
    """A page in the temporary directory, written at the first link and kept after the
    demo, to be opened."""

    path: Path = field(default_factory=_new_path)
    links: list[tuple[str, str]] = field(default_factory=list)

    def add(self, title: str, blocks: list[dict[str, Any]]) -> tuple[int, str]:
        """The link's number on the page, and the link."""
        link = builder_link(blocks)
        self.links.append((title, link))
        items = "\n".join(
            f'<li><a href="{html.escape(url)}">{html.escape(text)}</a></li>'
            for text, url in self.links
        )
        self.path.write_text(_PAGE.format(items=items), encoding="utf-8")
        return len(self.links), link
