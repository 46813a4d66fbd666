"""Every wait in the tests has a deadline: these poll or read until then, and fail
with what they saw instead of hanging."""

import os
import select
import time
from collections.abc import Callable
from typing import TypeVar

DEADLINE = 20.0  # seconds; far above what any wait here needs on a loaded machine
T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    seconds: float = DEADLINE,
    what: str | Callable[[], str] = "",
    *,
    every: float = 0.005,
) -> T:
    """Poll every ``every`` seconds until ``predicate()`` is truthy, and return that value.

    ``what`` names the wait in the failure; a callable is asked only then, so the message
    can show the last thing the predicate saw."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {seconds}s waiting for {said or predicate}")
        time.sleep(every)


def read_until(fd: int, marker: bytes, seconds: float = DEADLINE) -> bytes:
    """Read a pty leader (or pipe) until ``marker`` shows."""
    seen = b""
    deadline = time.monotonic() + seconds
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {marker!r}; got {seen!r}"
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other side closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def drain(fd: int, quiet: float = 0.2) -> bytes:
    """Whatever is still buffered, until nothing more comes for ``quiet`` seconds."""
    seen = b""
    while select.select([fd], [], [], quiet)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen
