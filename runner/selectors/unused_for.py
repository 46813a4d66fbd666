"""``unused_for: 60d``: items older than that with no use in that long before the clock.

Use comes from the kind's usage source (runner.usage), read by the engine and handed to
the planner as each record's ``usage``. What could not be read is never "unused": the
item is skipped with ``usage unknown: WHY``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from runner.durations import format_age
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, age_verdict, parse_age, register
from runner.usage import REGISTRY as USAGE
from runner.usage import USAGE_UNKNOWN, Seen, Unknown


@register
@dataclass(frozen=True, slots=True)
class UnusedFor(Selector):
    key: ClassVar[str] = "unused_for"
    schema: ClassVar[dict[str, Any]] = {"$ref": "#/$defs/duration"}
    order: ClassVar[int] = 20
    needs_ages: ClassVar[bool] = True

    unused_for: timedelta
    unused_for_text: str | None = None

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        limit = parse_age(value, field)
        return None if limit is None else cls(limit, value)

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        if spec.usage is not None:
            return None
        able = ", ".join(
            sorted(
                p.type
                for p in PROVIDERS.values()
                if spec.kind in p.kinds and p.kinds[spec.kind].usage is not None
            )
        )
        return (
            f"{spec.type} does not report last use: an unused_for rule could never match"
            f" (types that do: {able or 'none'})"
        )

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        return None if spec.usage is None else USAGE[spec.usage].reads

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        label = f"unused_for {self.unused_for_text}"
        usage = record.usage
        if not isinstance(usage, Seen):
            why = usage.why if isinstance(usage, Unknown) else "not read"
            return Verdict(False, USAGE_UNKNOWN + why, unknown=True)
        window = now - self.unused_for
        if usage.since is not None and usage.since > window:
            # A read that misses part of the window cannot vouch for "no use" in it.
            why = f"the read covers only since {usage.since:%Y-%m-%d}, not {label}"
            return Verdict(False, USAGE_UNKNOWN + why, unknown=True)
        # A use at the window's very start is in it: unused_for 0d keeps what a read
        # saw used by the clock (today's daily count is a use at the clock).
        if usage.last_used is not None and usage.last_used >= window:
            when = f"{usage.last_used:%Y-%m-%d}"
            if usage.last_used > now:  # a clock skew: a use "after" the clock is a use
                return Verdict(False, f"last used {when}, after the rules' clock", too_young=True)
            ago = format_age(now - usage.last_used)
            return Verdict(False, f"last used {when} ({ago} ago), within {label}", too_young=True)
        # Older than D at all: from its creation, or the runner's first sighting of it.
        since = record.created_at or record.first_seen
        basis = "created" if record.created_at is not None else "first seen"
        old = age_verdict("unused_for", self.unused_for, self.unused_for_text, since, basis, now)
        if not old.matched or since is None:
            return old
        if usage.last_used is not None:
            ago = format_age(now - usage.last_used)
            return Verdict(True, f"{label}: last used {usage.last_used:%Y-%m-%d} ({ago} ago)")
        if usage.since is None or usage.since <= since:  # the read saw its whole life
            age = format_age(now - since)
            return Verdict(True, f"{label}: never used; {basis} {since:%Y-%m-%d} ({age} ago)")
        return Verdict(True, f"{label}: no use in {self.unused_for_text}")

    def describe(self) -> str:
        return f"unused_for {self.unused_for_text}"
