"""Where the command line writes: ``out`` for what was asked, ``err`` for problems."""

from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def say_error(message: str) -> None:
    """One line, never cut to the terminal's width (a log keeps it whole), as written: a
    ``[slack]`` in it is text, not markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def say_warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)
