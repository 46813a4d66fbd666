"""``served_model: ft-*``: deployments hosting a model whose ID matches a glob."""

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import KindSpec, ModelRecord
from runner.selectors.base import Field, Selector, Verdict, register


@register
@dataclass(frozen=True, slots=True)
class ServedModel(Selector):
    key: ClassVar[str] = "served_model"
    schema: ClassVar[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 256}
    order: ClassVar[int] = 55

    served_model: str

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(value)

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        if spec.serves_models:
            return None
        able = ", ".join(
            f"{p.type} {kind}" for _, p in sorted(PROVIDERS.items()) for kind in p.hosting_kinds()
        )
        return (
            f"a {spec.type} {spec.kind} hosts no model: a served_model rule could never match"
            f" (kinds that do: {able or 'none'})"
        )

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        return "the models it serves"

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        for model_id in record.serves:
            if fnmatchcase(model_id, self.served_model):
                return Verdict(True, f"serves {model_id} (matches {self.served_model!r})")
        served = ", ".join(record.serves) or "no model of the account"
        return Verdict(False, f"serves {served}, none matching {self.served_model!r}")

    def describe(self) -> str:
        return f"served_model {self.served_model!r}"
