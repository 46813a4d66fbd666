"""One pace per key and host: connections (and daemon jobs) sharing both share a limiter."""

import io
from pathlib import Path

import pytest

from runner.engine import RunOptions, RunReport
from runner.errors import ConfigError
from runner.ratelimit import Limiters, RateLimiter


def test_connections_on_one_key_and_host_share_one_limiter() -> None:
    limiters = Limiters()
    first = limiters.get("key-one-123456", "https://api.cohere.com", 500)
    again = limiters.get("key-one-123456", "https://api.cohere.com", 500)
    other_key = limiters.get("key-two-123456", "https://api.cohere.com", 500)
    other_host = limiters.get("key-one-123456", "https://api.eu.example", 500)
    assert first is again
    assert first is not other_key and first is not other_host


def test_the_slowest_declared_pace_wins() -> None:
    limiters = Limiters()
    fast = limiters.get("key-one-123456", "https://h", 600)
    slow = limiters.get("key-one-123456", "https://h", 60)
    assert fast is slow and slow.interval == 1.0


def test_the_limiter_spaces_requests_evenly_without_waiting_for_real() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(120, clock=lambda: now[0], sleep=slept.append)
    for _ in range(3):
        limiter.acquire()
    assert slept == [0.5, 1.0]  # the 2nd waits one interval, the 3rd two


def test_every_fire_of_every_job_uses_the_daemons_one_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs on one key firing together must not pace at twice the rate: each fire is
    handed the daemon's registry, never a fresh one."""
    from runner import scheduler
    from runner.logs import Log

    job = tmp_path / "job.yaml"
    job.write_text(
        """version: 1
jobs:
  - {name: a, schedule: every 1h, targets: [{provider: cohere, status: [STATUS_FAILED]}]}
  - {name: b, schedule: every 1h, targets: [{provider: cohere, name: "exp-*"}]}
"""
    )
    seen: list[object] = []

    def capture(job_file: object, options: RunOptions) -> RunReport:
        seen.append(options.limiters)
        raise ConfigError("stop here")

    monkeypatch.setattr(scheduler, "execute", capture)
    daemon = scheduler.Daemon([str(job)], Log(stream=io.StringIO()))
    daemon.load()
    for item in daemon.scheduled():
        daemon._fire(item.key)
    assert len(seen) == 2 and seen[0] is seen[1] is daemon.limiters
