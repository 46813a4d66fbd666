"""One-line structured logs for the daemon: ``key=value`` text or JSON.

Libraries log on their own (APScheduler's "skipped: maximum number of running instances
reached", urllib3's retries, Python's warnings); without a handler Python writes those to
stderr in its own format, which breaks one-object-per-line. ``routed`` sends every logger's
records, and uncaught thread exceptions, through the same ``Log`` as our own events.
"""

import json
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from runner.clock import Clock, rfc3339, system_clock
from runner.text import json_text


class Log:
    def __init__(
        self, fmt: str = "text", stream: TextIO | None = None, clock: Clock = system_clock
    ):
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.clock = clock
        self._lock = threading.Lock()

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"ts": rfc3339(self.clock()), "level": level, "event": event, **fields}
        if self.fmt == "json":
            line = json_text(record, default=str)
        else:
            head = f"{record['ts']} {level.upper():5} {event}"
            line = " ".join([head, *(f"{k}={_text(v)}" for k, v in fields.items())])
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _text(value: Any) -> str:
    text = str(value)
    plain = text and text.isprintable() and " " not in text and '"' not in text
    return text if plain else json.dumps(text)  # a newline in a message stays one line


class _Routed(logging.Handler):
    """A library's log record as one ``log`` event: logger, message and any traceback."""

    def __init__(self, log: Log):
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info and record.exc_info[0] is not None:
                fields["exception"] = "".join(traceback.format_exception(*record.exc_info))
            self.log.emit("log", record.levelname.lower(), **fields)
        except Exception:
            self.handleError(record)


@contextmanager
def routed(log: Log, level: int = logging.WARNING) -> Iterator[None]:
    """While open, every logger (the root handler), every warning and every uncaught thread
    exception goes through ``log``; everything is put back on exit."""
    handler = _Routed(log)
    root = logging.getLogger()
    old_level, old_hook = root.level, threading.excepthook

    def thread_died(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread else "?"
        died = logging.getLogger("ftjanitor")
        died.error("thread %s died", thread, exc_info=args.exc_value)

    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    threading.excepthook = thread_died
    try:
        yield
    finally:
        threading.excepthook = old_hook
        logging.captureWarnings(False)
        root.setLevel(old_level)
        root.removeHandler(handler)
