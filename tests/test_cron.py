"""Crontab meaning, checked against known dates through real APScheduler triggers."""

import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.cron import CronSpec, EverySpec, never_fires, parse_schedule
from runner.triggers import build_trigger, next_fire_times

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def fires(expr: str, count: int, after: datetime = START) -> list[str]:
    return [
        t.strftime("%a %Y-%m-%d %H:%M")
        for t in next_fire_times(build_trigger(parse_schedule(expr)), after, count)
    ]


def test_zero_is_sunday() -> None:
    assert fires("0 3 * * 0", 3) == [
        "Sun 2026-11-29 03:00",
        "Sun 2026-12-06 03:00",
        "Sun 2026-12-13 03:00",
    ]


def test_seven_is_sunday_too() -> None:
    assert fires("0 3 * * 7", 2) == fires("0 3 * * 0", 2) == fires("0 3 * * sun", 2)


def test_day_of_month_or_day_of_week() -> None:
    # crontab: the 1st of the month *and* every Monday (APScheduler alone would AND them)
    assert fires("0 0 1 * mon", 4) == [
        "Mon 2026-11-30 00:00",
        "Tue 2026-12-01 00:00",
        "Mon 2026-12-07 00:00",
        "Mon 2026-12-14 00:00",
    ]


def test_star_step_in_day_field_keeps_and_semantics() -> None:
    # A day field starting with '*' makes cron AND the fields: odd days that are Mondays.
    assert fires("0 0 */2 * 1", 2) == ["Mon 2026-12-07 00:00", "Mon 2026-12-21 00:00"]


def test_weekday_range_across_sunday_and_steps() -> None:
    assert fires("0 9 * * 5-7", 3) == [
        "Fri 2026-11-27 09:00",
        "Sat 2026-11-28 09:00",
        "Sun 2026-11-29 09:00",
    ]
    assert fires("0 9 * * */3", 3) == [
        "Wed 2026-11-25 09:00",
        "Sat 2026-11-28 09:00",
        "Sun 2026-11-29 09:00",
    ]


def test_month_end_and_leap_day() -> None:
    assert fires("30 23 31 * *", 3) == [
        "Thu 2026-12-31 23:30",
        "Sun 2027-01-31 23:30",
        "Wed 2027-03-31 23:30",
    ]
    assert fires("0 0 29 2 *", 1) == ["Tue 2028-02-29 00:00"]


def test_every_is_anchored_to_a_fixed_origin() -> None:
    a = next_fire_times(build_trigger(parse_schedule("every 6h")), START.replace(minute=7), 2)
    b = next_fire_times(
        build_trigger(parse_schedule("every 6h")), START.replace(hour=13, minute=41), 2
    )
    assert [t.hour for t in a] == [18, 0]
    assert a == b  # restarting at another moment keeps the phase


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 3 * *", "not a 5-field cron expression"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 8", "day of week: 8 is outside 0-7"),
        ("* * * * mon-sun-x", "is not a cron list item"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step must be at least 1"),
        ("every 0s", "at least 1s"),
        ("every often", "is not a duration"),
    ],
)
def test_bad_schedules(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(expr)


# -- expressions that can never fire (runner.cron.never_fires: pure, no APScheduler) ------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 0 31 2 *", "'0 0 31 2 *' never fires: February has no day 31"),
        ("0 0 30 2 *", "'0 0 30 2 *' never fires: February has no day 30"),
        ("0 0 30,31 feb *", "never fires: February has no day 30, 31"),
        (
            "0 0 31 4,6,9,11 *",
            "'0 0 31 4,6,9,11 *' never fires: April, June, September and November have no day 31",
        ),
        ("0 0 31 2,4 *", "never fires: February and April have no day 31"),
        ("0 0 31 2 */2", "never fires: February has no day 31"),  # starred weekday: ANDed
    ],
)
def test_never_firing_crontab_is_refused(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 29 2 *",  # leap years
        "0 0 31 2 mon",  # both day fields restricted: crontab ORs them, Mondays fire
        "0 0 30 1-3 *",  # January and March have a 30th
        "0 0 31 * *",
        "0 0 */31 2 *",  # a starred day field with a step: {1}
        "0 0 1-31 2 *",
    ],
)
def test_expressions_that_fire_are_accepted(expr: str) -> None:
    spec = parse_schedule(expr)
    assert isinstance(spec, CronSpec) and never_fires(spec) is None
    assert fires(expr, 1)  # APScheduler agrees: there is a next fire time


def test_parsing_a_schedule_imports_no_apscheduler() -> None:
    code = (
        "import sys; from runner.cron import parse_schedule; parse_schedule('0 0 29 2 *');"
        "print('apscheduler' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    days=st.sets(st.integers(27, 31), min_size=1, max_size=3),
    months=st.sets(st.integers(1, 12), min_size=1, max_size=3),
)
def test_never_fires_agrees_with_apscheduler(days: set[int], months: set[int]) -> None:
    day_list = ",".join(map(str, sorted(days)))
    month_list = ",".join(map(str, sorted(months)))
    spec = CronSpec(
        (0,), (0,), tuple(sorted(days)), tuple(sorted(months)), tuple(range(7)), True, False
    )
    trigger = CronTrigger(minute=0, hour=0, day=day_list, month=month_list, timezone=UTC)
    assert (never_fires(spec) is None) == (trigger.get_next_fire_time(None, START) is not None)


def test_every_is_bounded() -> None:
    assert parse_schedule("every 3653d") == EverySpec(3653 * 86400)
    with pytest.raises(
        ValueError, match="every: '3654d' is longer than the longest duration, 3653d"
    ):
        parse_schedule("every 3654d")
    with pytest.raises(ValueError, match="longest duration"):
        parse_schedule("every 999999999w")
