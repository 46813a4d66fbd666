"""``tags: {team: nlp, stage: "exp-*"}``: items whose tags hold every key given, each value
matching its glob (case-sensitive). Tags whose read failed are unknown: skipped, never
selected."""

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Self

from runner.providers.base import KindSpec, ModelRecord, TagsUnknown
from runner.providers.mapping import quoted
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
class TagsRule(Selector):
    key: ClassVar[str] = "tags"
    schema: ClassVar[dict[str, Any]] = dict(TAG_GLOBS)
    order: ClassVar[int] = 70
    needs_tags: ClassVar[bool] = True

    tags: tuple[tuple[str, str], ...]  # (key, glob), in the file's order

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        return cls(tuple(value.items()))

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        return tags_unusable(cls.key, spec)

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        return None if spec.tags is None else spec.tags.reads

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        tags = tags_read(record)
        if isinstance(tags, TagsUnknown):
            return Verdict(False, f"tags unknown: {tags.why}", unknown=True)
        told = []
        for key, glob in self.tags:
            value = tags.get(key)
            if value is None:
                return Verdict(False, f"no tag {quoted(key, 40)}")
            if not fnmatchcase(value, glob):
                return Verdict(False, f"tag {tag_text(key, value)} does not match {glob!r}")
            told.append(tag_text(key, value))
        return Verdict(True, "tag " + ", ".join(told))

    def describe(self) -> str:
        return "tags " + ", ".join(f"{key}={glob!r}" for key, glob in self.tags)
