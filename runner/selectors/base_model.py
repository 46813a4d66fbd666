"""``base_model: llama-*``: models fine-tuned from a base whose name matches a glob."""

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, register


@register
@dataclass(frozen=True, slots=True)
class BaseModel(Selector):
    key: ClassVar[str] = "base_model"
    schema: ClassVar[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 256}
    order: ClassVar[int] = 50

    base_model: str

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(value)

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        if spec.has_base_model:
            return None
        return f"{spec.type} reports no base model: a base_model rule could never match"

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        pattern, base = self.base_model, record.base_model
        if not fnmatchcase(base or "", pattern):
            return Verdict(False, f"base model {base!r} does not match {pattern!r}")
        return Verdict(True, f"base model matches {pattern!r}")

    def describe(self) -> str:
        return f"base_model {self.base_model!r}"
