"""Console and rotating-file logging, as text or JSON lines."""

from __future__ import annotations

import json
import logging
import logging.handlers
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
        return json.dumps(entry)


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
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # The WSGI server's own access log would repeat our request line; libraries stay quiet.
    for noisy in ("werkzeug", "pymongo", "secantus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
