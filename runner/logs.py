"""One-line structured logs for the daemon: ``key=value`` text or JSON."""

import json
import sys
import threading
from typing import Any, TextIO

from runner.clock import Clock, rfc3339, system_clock


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
            line = json.dumps(record, ensure_ascii=False, default=str)
        else:
            head = f"{record['ts']} {level.upper():5} {event}"
            line = " ".join([head, *(f"{k}={_text(v)}" for k, v in fields.items())])
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text or '"' in text) else text
