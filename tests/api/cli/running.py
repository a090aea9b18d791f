"""`baton` run as a user runs it, for the command-line tests: a process of its own in a
directory standing for the user's, with only the settings given."""

import re
import subprocess
from pathlib import Path

from tests.processes import BATON, clean_env

_ESCAPES = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def baton(
    cwd: Path, *args: str, terminal: bool = False, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``terminal``: rich draws as on a 120-column terminal (tables, bold); else piped."""
    env = clean_env(COLUMNS="120", TTY_COMPATIBLE="1" if terminal else "0", **settings)
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [BATON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def plain(text: str) -> str:
    """What a terminal shows, without its escape codes."""
    return _ESCAPES.sub("", text)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The command ended as every problem a person can fix ends: one line on stderr,
    nothing on stdout, its exit status, no traceback. Returns the line."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
