"""Fixtures shared by the app-level tests."""
import logging

import pytest


@pytest.fixture
def hook_log():
    """The srsish log lines, whatever logging setup other tests left behind."""
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("srsish")
    handler, old_level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)
