"""Fixtures shared by the app-level tests."""
import logging

import pytest

from helpers.hook_backend import Backend
from srsish.app.hooks.http_hooks import HttpHooks


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


@pytest.fixture
def backend():
    """A local HTTP hook backend that records requests (tests/helpers/hook_backend.py)."""
    b = Backend()
    yield b
    b.stop()


@pytest.fixture
def hooks():
    """An HttpHooks with an in-memory outbox, closed after the test."""
    h = HttpHooks("srv1", "svc1")
    yield h
    h.close()
