"""Console and rotating-file logging, as text or JSON lines, written by a thread of its own: a
request thread only puts the record on a queue (no lock, no write, no file `stat` per line).
The writer wakes every WRITE_INTERVAL and writes what was queued meanwhile, rather than being
woken by every record: a wake-up per request line made the writer thread contend for the GIL
with the request threads on every request (README: "The hot path")."""

from __future__ import annotations

import atexit
import copy
import json
import logging
import logging.handlers
import queue
import sys
import threading
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


class SizeRotatingFile(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler without its two `stat` calls per record (bpo-45401's guard against
    rolling over something that is not a regular file): the file is LOG_DIR/<process>.log,
    which this process creates. The size comes from the open stream."""

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.stream is None:
            self.stream = self._open()
        if self.maxBytes <= 0:
            return False
        return self.stream.tell() + len(self.format(record)) + 1 >= self.maxBytes


# How long a queued line may wait for the writer thread.
WRITE_INTERVAL = 0.05
# How long stopping waits for the writer thread to write what is queued.
STOP_TIMEOUT = 5.0


class LogWriter:
    """The thread that hands queued records to the real handlers, every WRITE_INTERVAL."""

    def __init__(self, handlers: list[logging.Handler], stop_timeout: float = STOP_TIMEOUT) -> None:
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._handlers = handlers
        self._stop_timeout = stop_timeout
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop; waits `stop_timeout` at most, so a process exits
        even when its handlers cannot keep up (what is left unwritten is lost)."""
        self._stopping.set()
        self._thread.join(timeout=self._stop_timeout)

    def _run(self) -> None:
        while not self._stopping.wait(WRITE_INTERVAL):
            self._write_queued()
        self._write_queued()

    def _write_queued(self) -> None:
        """Write the records queued when it starts, not those queued meanwhile: a thread
        logging without pause (a retry loop at shutdown) must not keep it, or `stop`, going."""
        for _ in range(self.records.qsize()):
            try:
                record = self.records.get_nowait()
            except queue.Empty:
                return
            for handler in self._handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


_writer: LogWriter | None = None


def stop_log_writer() -> None:
    """Write what is queued, then stop the writer thread (at exit, or before reconfiguring)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


def start_log_writer(handlers: list[logging.Handler]) -> logging.Handler:
    global _writer
    stop_log_writer()
    _writer = LogWriter(handlers)
    _writer.start()
    handler = QueuedRecords(_writer.records)
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
        SizeRotatingFile(
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
