"""logging_setup.LogWriter: queued records are written by its thread, and stopping it ends even
while another thread logs without pause."""

from __future__ import annotations

import io
import logging
import threading
import time

from tasktracker.logging_setup import LogWriter, QueuedRecords, SizeRotatingFile


def queued_logger(writer: LogWriter, name: str) -> logging.Logger:
    handler = QueuedRecords(writer.records)
    handler.setFormatter(logging.Formatter())
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_what_was_queued_is_written_by_the_time_it_stops():
    out = io.StringIO()
    writer = LogWriter([logging.StreamHandler(out)])
    writer.start()
    log = queued_logger(writer, "tests.log_writer.written")
    for n in range(100):
        log.info("line %d", n)
    writer.stop()
    assert out.getvalue().splitlines() == [f"line {n}" for n in range(100)]


class SlowStream(io.StringIO):
    """A stream slower than a logger in a loop: the queue never runs dry by itself."""

    def write(self, text: str) -> int:
        time.sleep(0.001)
        return super().write(text)


def test_stopping_returns_while_another_thread_logs_faster_than_it_writes():
    """Without a bound, `stop` at exit would wait for a queue that never runs dry."""
    writer = LogWriter([logging.StreamHandler(SlowStream())], stop_timeout=0.5)
    writer.start()
    log = queued_logger(writer, "tests.log_writer.busy")
    done = threading.Event()

    def log_without_pause() -> None:
        while not done.is_set():
            log.warning("retrying")

    busy = threading.Thread(target=log_without_pause, daemon=True)
    busy.start()
    stopper = threading.Thread(target=writer.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=60)  # a deadline for a hang, not a measurement
    stopped = not stopper.is_alive()
    done.set()
    busy.join()
    assert stopped


def test_the_log_file_rolls_over_at_its_size_limit(tmp_path):
    path = tmp_path / "api.log"
    handler = SizeRotatingFile(path, maxBytes=200, backupCount=1, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    for n in range(10):
        handler.handle(logging.makeLogRecord({"msg": f"line {n:02d} " + "x" * 40}))
    handler.close()
    assert path.with_name("api.log.1").exists()
    assert 0 < path.stat().st_size < 200
    assert path.read_text().splitlines()[-1].startswith("line 09")
