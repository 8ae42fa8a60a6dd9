"""Console and rotating-file logging, as text or JSON lines, written by a thread of its own: a
request thread only puts the record on a queue (no lock, no write, no file `stat` per line)."""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime

from tasktracker.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "tasktracker.log"
# Fields a log call may pass with `extra=`; JSON lines carry them as fields of their own.
EXTRA_FIELDS = (
    "request_id",
    "correlation_id",
    "event_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
)

# granian's own lines (workers starting, stopping) go through our handlers, as text or JSON.
GRANIAN_LOGGING = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted by QueuedRecords before it crossed threads
            entry["exception"] = record.exc_text
        return json.dumps(entry)


class QueuedRecords(logging.handlers.QueueHandler):
    """Hands records to the writer thread with their message and traceback rendered, and every
    other field (the request line's `extra=` fields) kept."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = self.formatter.formatException(record.exc_info)
            record.exc_info = None
        return record


_listener: logging.handlers.QueueListener | None = None


def stop_log_writer() -> None:
    """Write what is queued, then stop the writer thread (at exit, or before reconfiguring)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def start_log_writer(handlers: list[logging.Handler]) -> logging.Handler:
    global _listener
    stop_log_writer()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    _listener.start()
    handler = QueuedRecords(records)
    handler.setFormatter(logging.Formatter())
    return handler


def configure_logging(settings: Settings, *, process_name: str = "tasktracker") -> None:
    formatter: logging.Formatter = (
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    log_dir = settings.resolved_log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    file_name = LOG_FILE if process_name == "tasktracker" else f"{process_name}.log"
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(
            log_dir / file_name, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        ),
    ]
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(start_log_writer(handlers))
    root.setLevel(settings.log_level)
    # The WSGI server's own access log would repeat our request line; libraries stay quiet.
    for noisy in ("werkzeug", "pymongo", "secantus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


atexit.register(stop_log_writer)
