"""``expires_tag: expires``: items whose tag of that name holds a date that has passed. A
date in the future keeps the item; an item without the tag is not selected. The date is
RFC 3339 with a zone, or ``YYYY-MM-DD``, which expires at the end of that UTC day. A value
that is neither is skipped with its reason, never guessed."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Self

from runner.clock import parse_instant
from runner.providers.base import KindSpec, ModelRecord, TagsUnknown
from runner.providers.mapping import quoted
from runner.selectors.base import (
    Field,
    Selector,
    Verdict,
    register,
    tag_text,
    tags_read,
    tags_unusable,
)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def expiry(value: str) -> datetime | None:
    """When a tag's date expires (aware UTC), or None when it is not a date we read."""
    try:
        if _DAY.fullmatch(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            # The whole day is still before its end; the end of 9999-12-31 (a common
            # "never") is one step past what a datetime holds: its last instant stands in.
            return day + timedelta(days=1) if day.date() < date.max else _LAST
        return parse_instant(value)
    except ValueError:
        return None


_LAST = datetime.max.replace(tzinfo=UTC)


@register
@dataclass(frozen=True, slots=True)
class ExpiresTag(Selector):
    key: ClassVar[str] = "expires_tag"
    schema: ClassVar[dict[str, Any]] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 128,
        "description": "A tag holding an expiry date: RFC 3339, or YYYY-MM-DD (the end of"
        " that UTC day).",
    }
    order: ClassVar[int] = 74
    needs_tags: ClassVar[bool] = True

    expires_tag: str

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(value)

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        return tags_unusable(cls.key, spec)

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        tags = tags_read(record)
        if isinstance(tags, TagsUnknown):
            return Verdict(False, f"tags unknown: {tags.why}", unknown=True)
        value = tags.get(self.expires_tag)
        if value is None:
            return Verdict(False, f"no tag {quoted(self.expires_tag, 40)}")
        at = expiry(value)
        if at is None:
            why = "is not a date (RFC 3339 with a zone, or YYYY-MM-DD)"
            return Verdict(False, f"tag {tag_text(self.expires_tag, value)} {why}", unknown=True)
        # Not strftime: its %Y writes year 1 as "1", not "0001".
        when = at.isoformat(sep=" ", timespec="minutes")[:16] + "Z"
        if at > now:
            return Verdict(
                False, f"expires {when} (tag {quoted(self.expires_tag, 40)})", too_young=True
            )
        return Verdict(True, f"expired {when} (tag {quoted(self.expires_tag, 40)})")

    def describe(self) -> str:
        return f"expires_tag {self.expires_tag!r}"
