"""What `baton serve` and the other long-running commands log: Baton's own lines, and the
libraries' only when they warn, unless BATON_LOG_LEVEL=debug."""

import logging
from collections.abc import Iterator

import pytest

from api.logs import LIBRARIES, UnknownLevel, configure_logging, level_named


@pytest.fixture
def library_levels() -> Iterator[None]:
    before = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("library_levels")
def test_libraries_log_warnings_only_unless_debug() -> None:
    configure_logging("info")
    assert not logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.INFO)
    assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler").isEnabledFor(logging.WARNING)
    configure_logging("DEBUG")
    assert logging.getLogger("alembic").getEffectiveLevel() == logging.getLogger().level


def test_a_level_is_one_of_the_known_names() -> None:
    assert level_named("warning") == logging.WARNING
    with pytest.raises(UnknownLevel, match="'verbose' is not a log level: use one of debug"):
        level_named("verbose")
