"""Crontab expressions with crontab's meaning, parsed without importing APScheduler.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday and ANDs
day-of-month with day-of-week; crontab numbers from Sunday (0 and 7) and ORs the two
when both are restricted. We parse into explicit value sets here and let
``runner.triggers`` build APScheduler triggers from them.
"""

import re
from dataclasses import dataclass

from runner.durations import parse_duration

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, low, high, names mapped to numbers)
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {n: i for i, n in enumerate(_DAYS)}),
]
_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/([0-9]+))?$")
EVERY_PREFIX = "every "
_MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
# The longest each month ever gets (February: in leap years).
_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@dataclass(frozen=True)
class CronSpec:
    """A crontab expression as explicit value sets, as runner.triggers builds from."""

    minute: tuple[int, ...]
    hour: tuple[int, ...]
    day: tuple[int, ...]
    month: tuple[int, ...]
    weekday: tuple[int, ...]  # 0 = Sunday .. 6 = Saturday (7 folded into 0)
    day_restricted: bool  # field did not start with '*'
    weekday_restricted: bool


@dataclass(frozen=True)
class EverySpec:
    """``every <duration>``: a fixed interval in seconds."""

    seconds: int


def _value(token: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    if token in names:
        return names[token]
    if not token.isdigit():
        raise ValueError(f"{field}: {token!r} is not a number or name")
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{field}: {number} is outside {low}-{high}")
    return number


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if not match:
            raise ValueError(f"{field}: {item!r} is not a cron list item")
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{field}: step must be at least 1")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-")
            first = _value(a, field, low, high, names)
            last = _value(b, field, low, high, names)
            if first > last:
                raise ValueError(f"{field}: range {span!r} runs backwards")
        else:
            first = _value(span, field, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return values


def never_fires(spec: CronSpec) -> str | None:
    """Why ``spec`` can never fire (None when it fires some day).

    Minutes, hours and weekdays always meet: every weekday falls on every date in some
    year. Only the days of month can miss every selected month (``0 0 31 2 *``); when
    both day fields are restricted crontab ORs them, so the weekdays alone still fire.
    """
    if spec.day_restricted and spec.weekday_restricted:
        return None
    if any(day <= _MONTH_DAYS[month - 1] for month in spec.month for day in spec.day):
        return None
    months = [_MONTH_NAMES[month - 1] for month in spec.month]
    named = months[0] if len(months) == 1 else ", ".join(months[:-1]) + " and " + months[-1]
    days = ", ".join(str(day) for day in spec.day)
    verb = "has" if len(months) == 1 else "have"
    return f"never fires: {named} {verb} no day {days}"


def parse_crontab(expr: str) -> CronSpec:
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"{expr!r} is not a 5-field cron expression (minute hour day month weekday)"
            " or 'every <duration>'"
        )
    sets = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = {d % 7 for d in sets[4]}
    spec = CronSpec(
        minute=tuple(sorted(sets[0])),
        hour=tuple(sorted(sets[1])),
        day=tuple(sorted(sets[2])),
        month=tuple(sorted(sets[3])),
        weekday=tuple(sorted(weekdays)),
        day_restricted=not parts[2].startswith("*"),
        weekday_restricted=not parts[4].startswith("*"),
    )
    if reason := never_fires(spec):
        raise ValueError(f"{expr!r} {reason}")
    return spec


def parse_schedule(text: str) -> CronSpec | EverySpec:
    """A job's ``schedule``: a crontab expression or ``every <duration>`` (1s to 3653d).

    ValueError with a user-facing message for anything else, including an expression
    that can never fire.
    """
    if text.startswith(EVERY_PREFIX):
        try:
            seconds = int(parse_duration(text[len(EVERY_PREFIX) :].strip()).total_seconds())
        except ValueError as exc:
            raise ValueError(f"every: {exc}") from None
        if seconds < 1:
            raise ValueError("'every' needs a duration of at least 1s")
        return EverySpec(seconds)
    return parse_crontab(text)
