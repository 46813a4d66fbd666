"""Durations as job files write them: 45s, 90m, 12h, 30d, 2w (at most 3653d)."""

import re
from datetime import timedelta

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])$")
HINT = "is not a duration like 30d, 12h, 2w (units: s, m, h, d, w)"
# Ten years: longer than any age worth a rule, and far inside what datetimes can add.
MAX_DAYS = 3653
MAX_SECONDS = MAX_DAYS * 86400


def parse_duration(text: str) -> timedelta:
    """Parse ``30d`` into a timedelta; ValueError with a user-facing message otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} {HINT}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than the longest duration, {MAX_DAYS}d (10 years)")
    return timedelta(seconds=seconds)


def format_age(delta: timedelta) -> str:
    """A short human age: 83d, 5h, 12m, 40s (largest whole unit); "future" for an item
    created after the clock it is judged by (a --now in the past), never a negative age."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
