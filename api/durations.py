"""Durations as the configuration file writes them: ``"90s"``, ``"15m"``, ``"4h"``."""

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"4h"``, ``"1d"``."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError('a duration is a string such as "90s", "15m" or "4h"')
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f'{value!r} is not a duration such as "90s", "15m" or "4h"')
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
