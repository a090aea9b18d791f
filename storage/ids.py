"""Prefixed, time-ordered identifiers (``esc_…``, ``msg_…``, ``evt_…``)."""

import os
import threading
import time

from ulid import ULID

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
_RAND_MAX = (1 << 80) - 1


def _monotonic_ulid() -> ULID:
    """A ULID that sorts after every ULID this process made before it.

    Within one millisecond the random part is incremented rather than redrawn, so ids made
    in quick succession (a transcript's messages, one request's events) keep their order.
    """
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms and _last_rand < _RAND_MAX:
            ms, rand = _last_ms, _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms, _last_rand = ms, rand
    return ULID.from_bytes(ms.to_bytes(6, "big") + rand.to_bytes(10, "big"))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_monotonic_ulid()}"
