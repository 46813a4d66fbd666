"""Time in one place: an injectable clock and one RFC 3339 parser."""

import re
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # returns an aware UTC datetime

_FRACTION = re.compile(r"(\.\d{6})\d+")


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """RFC 3339 / ISO 8601 with an offset or Z -> aware UTC. ValueError otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a timestamp")
    cleaned = _FRACTION.sub(r"\1", text.strip())  # nanoseconds: keep microseconds
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time like 2026-06-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or +00:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 or 0001-01-01T00:00+01:00 in UTC
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
