"""``status: [...]``: models in one of the provider's own status words. Naming a status is
also how an in-progress model (a training job) is selected at all."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, register


@register
@dataclass(frozen=True, slots=True)
class Status(Selector):
    key: ClassVar[str] = "status"
    schema: ClassVar[dict[str, Any]] = {
        "type": "array",
        "minItems": 1,
        "maxItems": 100,
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
        "description": "The type's own status words (the validator lists them).",
    }
    order: ClassVar[int] = 30
    selects_in_progress: ClassVar[bool] = True

    status: tuple[str, ...] = ()  # also what target.status reads without a status rule

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(tuple(value))

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        if spec.statuses:
            return None
        return f"{spec.type} reports no status: a status rule could never match"

    @classmethod
    def check(cls, spec: KindSpec, field: Field) -> None:
        allowed = ", ".join(sorted(spec.statuses))
        for index, status in field.items():
            if status not in spec.statuses:
                field.error(f"{status!r} is not a {spec.type} status (allowed: {allowed})", index)

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        if record.status not in self.status:
            return Verdict(False, f"status {record.status} not in {list(self.status)}")
        return Verdict(True, f"status {record.status}")

    def describe(self) -> str:
        return f"status {','.join(self.status)}"
