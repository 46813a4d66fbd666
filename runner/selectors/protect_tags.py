"""``protect_tags: {keep: "true"}``: never delete an item with any of these tags (a value
matching its glob), as ``protect:`` never deletes what it names. It selects nothing: the
planner asks it, before any delete is planned, whether it ``protects`` each item of its
target's connection and kind. Tags that could not be read protect too: what cannot be
read is kept."""

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord, TagsUnknown
from runner.selectors.base import (
    TAG_GLOBS,
    Field,
    Selector,
    Verdict,
    register,
    tag_text,
    tags_read,
    tags_unusable,
)


@register
@dataclass(frozen=True, slots=True)
class ProtectTags(Selector):
    key: ClassVar[str] = "protect_tags"
    schema: ClassVar[dict[str, Any]] = dict(TAG_GLOBS)
    order: ClassVar[int] = 72
    needs_tags: ClassVar[bool] = True
    exempts: ClassVar[bool] = True

    protect_tags: tuple[tuple[str, str], ...]  # (key, glob): any one that matches protects

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(tuple(value.items()))

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        return tags_unusable(cls.key, spec)

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        # The planner never asks an exempting rule to select: it stands aside for the rest.
        return Verdict(True, "")

    def protects(self, record: ModelRecord) -> str | None:
        tags = tags_read(record)
        if isinstance(tags, TagsUnknown):
            return f"protect_tags: tags unknown ({tags.why}), so kept"
        for key, glob in self.protect_tags:
            value = tags.get(key)
            if value is not None and fnmatchcase(value, glob):
                return f"protected by tag {tag_text(key, value)}"
        return None

    def describe(self) -> str:
        return "protect_tags " + ", ".join(f"{key}={glob!r}" for key, glob in self.protect_tags)
