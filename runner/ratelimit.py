"""Request pacing, shared by every connection that uses the same key at the same host.

Two jobs on one key that fire together must not run at twice ``requests_per_minute``:
the daemon keeps one ``Limiters`` for its lifetime, so they draw from one limiter.
"""

import hashlib
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests evenly at ``per_minute``: no bursts, so no 429 storms."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for this request's slot; returns how long it waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
        return slot - now


class Limiters:
    """One limiter per (credential, endpoint). The credential is kept only as a digest."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, credential: str, endpoint: str, per_minute: int) -> RateLimiter:
        digest = hashlib.sha256(credential.encode()).hexdigest()
        with self._lock:
            limiter = self._by_key.get((digest, endpoint))
            if limiter is None:
                # The slowest connection declared for the pair sets the pace for all.
                limiter = self._by_key[(digest, endpoint)] = RateLimiter(per_minute)
            elif 60.0 / per_minute > limiter.interval:
                limiter.interval = 60.0 / per_minute
            return limiter
