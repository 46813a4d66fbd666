"""``older_than: 30d``: models created (or, without a creation time, first seen) longer ago."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, age_verdict, parse_age, register


@register
@dataclass(frozen=True, slots=True)
class OlderThan(Selector):
    key: ClassVar[str] = "older_than"
    schema: ClassVar[dict[str, Any]] = {"$ref": "#/$defs/duration"}
    order: ClassVar[int] = 10
    needs_ages: ClassVar[bool] = True
    leads: ClassVar[bool] = True

    older_than: timedelta
    older_than_text: str | None = None

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        limit = parse_age(value, field)
        return None if limit is None else cls(limit, value)

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        return "creation time" if spec.has_created_at else "first sighting"

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        since = record.created_at or record.first_seen
        if record.created_at is not None:
            basis = "created"
        else:
            basis = "first seen" if record.first_seen else "creation"
        return age_verdict("older_than", self.older_than, self.older_than_text, since, basis, now)

    def describe(self) -> str:
        return f"older_than {self.older_than_text}"
