"""``unused_for: 60d``: models not used (or, never used, not created) for longer."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, age_verdict, parse_age, register


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
        if spec.has_last_used:
            return None
        able = ", ".join(
            sorted(
                p.type
                for p in PROVIDERS.values()
                if spec.kind in p.kinds and p.kinds[spec.kind].has_last_used
            )
        )
        return (
            f"{spec.type} does not report last use: an unused_for rule could never match"
            f" (types that do: {able or 'none'})"
        )

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        since = record.last_used or record.created_at
        basis = "last used" if record.last_used else "never used; created"
        return age_verdict("unused_for", self.unused_for, self.unused_for_text, since, basis, now)

    def describe(self) -> str:
        return f"unused_for {self.unused_for_text}"
