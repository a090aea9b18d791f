"""The whole repository is ruff-clean (lint and format) and passes mypy, as CI checks it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed (pip install -e '.[test]')"
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool(command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [("check", "."), ("format", "--check", ".")], ids=["lint", "format"]
)
def test_ruff(args: tuple[str, ...]) -> None:
    result = _run("ruff", *args)
    assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_types() -> None:
    """mypy with pyproject.toml's settings: strict, on every package."""
    result = _run("mypy")
    assert result.returncode == 0, f"mypy:\n{result.stdout}{result.stderr}"
