"""APScheduler triggers with crontab's meaning, built from runner.cron's parsed specs."""

from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from runner.cron import CronSpec, EverySpec

# `every` intervals count from a fixed origin, so a restart never shifts their phase.
EVERY_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
_APS_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _listed(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


def _cron(spec: CronSpec, zone: tzinfo, *, day: bool, weekday: bool) -> CronTrigger:
    return CronTrigger(
        minute=_listed(spec.minute),
        hour=_listed(spec.hour),
        month=_listed(spec.month),
        day=_listed(spec.day) if day else "*",
        # Names, not numbers: APScheduler counts weekdays from Monday, crontab from Sunday.
        day_of_week=",".join(_APS_WEEKDAYS[d] for d in spec.weekday) if weekday else "*",
        timezone=zone,
    )


def build_trigger(spec: CronSpec | EverySpec, zone: tzinfo = UTC) -> BaseTrigger:
    """A trigger from the schedule the job file parsed (never from its text again)."""
    if isinstance(spec, EverySpec):
        return IntervalTrigger(seconds=spec.seconds, start_date=EVERY_ORIGIN, timezone=zone)
    if spec.day_restricted and spec.weekday_restricted:
        # crontab: when both day fields are restricted, either one matching is enough.
        return OrTrigger(
            [
                _cron(spec, zone, day=True, weekday=False),
                _cron(spec, zone, day=False, weekday=True),
            ]
        )
    # Otherwise both fields apply together (a '*/2' field is "starred" yet still filters).
    return _cron(spec, zone, day=True, weekday=True)


def next_fire_times(trigger: BaseTrigger, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (deterministic, no waiting)."""
    out: list[datetime] = []
    previous: datetime | None = None
    try:
        now = after + _TICK
        while len(out) < count and (fire := trigger.get_next_fire_time(previous, now)):
            out.append(fire)
            previous, now = fire, fire + _TICK
    except (OverflowError, ValueError):  # past year 9999: the calendar holds no more
        pass
    return out


def last_fire_time(trigger: BaseTrigger, at: datetime) -> datetime | None:
    """The latest fire time at or before ``at``: look back over a window that doubles
    until it holds one, then walk forward through it (a few steps, whatever the cron)."""
    window = timedelta(minutes=1)
    while window < timedelta(days=366 * 30):
        times = next_fire_times(trigger, at - window, 1)
        if times and times[0] <= at:
            last = times[0]
            while (nxt := next_fire_times(trigger, last, 1)) and nxt[0] <= at:
                last = nxt[0]
            return last
        window *= 2
    return None
