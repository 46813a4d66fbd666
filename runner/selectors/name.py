"""``name: exp-*``: models whose name matches a glob (case-sensitive)."""

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, register


@register
@dataclass(frozen=True, slots=True)
class Name(Selector):
    key: ClassVar[str] = "name"
    schema: ClassVar[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 256}
    order: ClassVar[int] = 40

    name: str

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(value)

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        return spec.name_source

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        if not fnmatchcase(record.name or "", self.name):
            return Verdict(False, f"name {record.name!r} does not match {self.name!r}")
        return Verdict(True, f"name matches {self.name!r}")

    def describe(self) -> str:
        return f"name {self.name!r}"
