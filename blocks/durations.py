"""Durations as people read them: ``45 s``, ``12 min``, ``1 h 20 min``, ``2 d 3 h``."""

from datetime import timedelta


def spoken(value: timedelta | float) -> str:
    seconds = round(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
