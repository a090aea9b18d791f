"""Fixtures of the API tests."""

from collections.abc import AsyncIterator

import pytest

from api.relay.platform import Relay
from tests.conftest import Env


@pytest.fixture
async def relay(env: Env) -> AsyncIterator[Relay]:
    """The platform relay of ``env``, driven by the test, with back-off jitter fixed."""
    worker = Relay(env.db, env.services.box, allow_private=True, rng=lambda: 0.5)
    try:
        yield worker
    finally:
        await worker.aclose()
