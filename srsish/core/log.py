"""SRS-style logging: one line per event, `[time][level][pid][cid] message`, to console or file."""
import logging
import os
import sys
from typing import Optional

LOGGER_NAME = "srsish"
_LEVELS = {
    "verbose": logging.DEBUG, "info": logging.DEBUG, "trace": logging.INFO,
    "warn": logging.WARNING, "error": logging.ERROR,
    # srs_log_level_v2 names
    "debug": logging.DEBUG, "warning": logging.WARNING,
}
_NAMES = {logging.DEBUG: "Debug", logging.INFO: "Trace", logging.WARNING: "Warn",
          logging.ERROR: "Error", logging.CRITICAL: "Error"}


class SrsFormatter(logging.Formatter):
    """Formats a record as SRS does; the connection id comes from the record's `cid`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = self.formatTime(record, "%Y-%m-%d %H:%M:%S")
        cid = getattr(record, "cid", "") or "-"
        line = "[%s.%03d][%s][%d][%s] %s" % (
            ts, record.msecs, _NAMES.get(record.levelno, "Trace"), record.process, cid,
            record.getMessage())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _ReopenableFileHandler(logging.FileHandler):
    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream:
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


def setup_logging(tank: str = "console", path: Optional[str] = None, level: str = "trace") -> None:
    """(Re)configure the srsish logger: `tank` is `console` or `file` (then `path`)."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    if tank == "file" and path:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        handler: logging.Handler = _ReopenableFileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SrsFormatter())
    logger.addHandler(handler)
    logger.setLevel(_LEVELS.get((level or "trace").lower(), logging.INFO))
    logger.propagate = False


def reopen_logs() -> None:
    """Reopen the log file (SIGUSR1), so logrotate can move it away."""
    for h in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(h, _ReopenableFileHandler):
            h.reopen()


def get_logger(cid: str = "") -> logging.LoggerAdapter:
    """A logger whose every line carries the connection (context) id `cid`."""
    return logging.LoggerAdapter(logging.getLogger(LOGGER_NAME), {"cid": cid})
