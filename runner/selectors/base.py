"""What a selector rule is: one small class that knows its job-file key, its schema
fragment, what a provider type must report for it, and how it selects a model.

A selector is registered by name with ``@register``; the job schema, the validator, the
planner and the plan's target line all read the registry, so a new rule is one module in
this package and nothing else. Orchestration that spans rules (``ids``, ``protect``,
``keep_latest``, ``match_all``, grace, review, limits) stays in the planner.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, Self, TypeVar

from runner.durations import format_age, parse_duration
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import KindSpec, ModelRecord, Tags, TagsUnknown
from runner.providers.mapping import quoted

# Every registered selector by key, in ``order``: the order of the job schema's fields and
# of every list of rules shown to users.
REGISTRY: dict[str, type["Selector"]] = {}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One selector's answer about one model; ``reason`` explains a match or the miss."""

    matched: bool
    reason: str
    too_young: bool = False  # a miss only because of its age: the model is kept, not ignored
    # The rule cannot judge it (its usage could not be read): skipped, never selected.
    unknown: bool = False


class Field(Protocol):
    """What a selector's validation sees of its own field in one target."""

    def items(self) -> list[tuple[int, Any]]:
        """The items of a list value the schema accepted, by index."""
        ...

    def error(self, message: str, *under: int) -> None:
        """Report a problem at the field, or at one of its items."""
        ...


class Selector(ABC):
    """A rule of a target; the rules of one target are ANDed.

    A subclass is a frozen dataclass whose fields are the parsed rule (the first one is
    named like ``key``); they are also readable on the target (``target.older_than``).
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass
    key: ClassVar[str]  # the job-file field
    schema: ClassVar[Mapping[str, Any]]  # its JSON Schema fragment in a target
    order: ClassVar[int]  # its place in the schema and in lists of rules
    needs_ages: ClassVar[bool] = False  # reads ages: checked after the others (too young)
    leads: ClassVar[bool] = False  # its reason is told first when a model matches
    selects_in_progress: ClassVar[bool] = False  # without one, in-progress models are left
    needs_tags: ClassVar[bool] = False  # reads the records' tags: the engine reads them first
    # Selects nothing: it only exempts what ``protects`` names (protect_tags), as protect: does.
    exempts: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        """The rule from its schema-checked value, or None after reporting why not."""

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        """Why a target at this provider type could never match with this rule (None: it
        can). The validator reports it at the field; the README's table leaves it out."""
        return None

    @classmethod  # noqa: B027 -- an optional hook: most values fit every provider type
    def check(cls, spec: KindSpec, field: Field) -> None:
        """Report the values this provider type does not have (the rule is usable)."""

    @classmethod
    def reads(cls, spec: KindSpec) -> str | None:
        """What the rule reads at this provider type, for the README's provider table."""
        return None

    @abstractmethod
    def select(self, record: ModelRecord, now: datetime) -> Verdict: ...

    def protects(self, record: ModelRecord) -> str | None:
        """Why an exempting rule keeps ``record`` (None: it does not)."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """The rule as the plan's target line shows it."""


S = TypeVar("S", bound=type[Selector])


def register(cls: S) -> S:
    """Class decorator: add a selector to the registry under its key."""
    if cls.key in REGISTRY and REGISTRY[cls.key] is not cls:
        raise ValueError(f"selector {cls.key!r} is registered twice")
    REGISTRY[cls.key] = cls
    ordered = sorted(REGISTRY.values(), key=lambda c: (c.order, c.key))
    REGISTRY.clear()
    REGISTRY.update((c.key, c) for c in ordered)
    return cls


def in_check_order(selectors: Iterable[Selector]) -> tuple[Selector, ...]:
    """Age rules last: a model is "too young" only when everything else matched."""
    return tuple(sorted(selectors, key=lambda s: (s.needs_ages, s.order)))


def from_options(options: Mapping[str, Any]) -> tuple[Selector, ...]:
    """Selectors from their fields by name (``older_than=..., older_than_text=...``);
    a rule whose key is None or empty is absent."""
    owners = {f.name: cls for cls in REGISTRY.values() for f in fields(cls)}
    unknown = sorted(set(options) - set(owners))
    if unknown:
        raise TypeError(f"not a rule field: {', '.join(unknown)}")
    out = []
    for cls in REGISTRY.values():
        if options.get(cls.key) not in (None, (), ""):
            given = {f.name: options[f.name] for f in fields(cls) if f.name in options}
            out.append(cls(**given))
    return tuple(out)


def option(selectors: Iterable[Selector], name: str) -> Any:
    """A rule field by name: its value, or its empty value when the rule is absent."""
    for selector in selectors:
        if name in {f.name for f in fields(selector)}:
            return getattr(selector, name)
    for cls in REGISTRY.values():
        for f in fields(cls):
            if f.name == name:
                return None if f.default is MISSING else f.default
    raise AttributeError(name)


def parse_age(value: str, field: Field) -> timedelta | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        field.error(str(exc))
        return None


def age_verdict(
    label: str, limit: timedelta, text: str | None, since: datetime | None, basis: str,
    now: datetime,
) -> Verdict:  # fmt: skip
    """The verdict of an age rule (older_than, unused_for) on a time ``since``."""
    if since is None:
        return Verdict(False, f"no {basis} time, so no age for {label}")
    age = max(now - since, timedelta(0))
    # date().isoformat(), not strftime: this runs for every item listed, and is ten times
    # faster (and pads a year before 1000, as strftime does not everywhere).
    day = since.date().isoformat()
    told = f"{basis} {day}, {format_age(age)} ago"
    if since > now:  # a --now before the item existed: no age, and never "0s ago"
        told = f"{basis} {day}, after the rules' clock ({now.date().isoformat()})"
    if age <= limit:
        return Verdict(False, f"too young: {told}, not over {label} {text}", too_young=True)
    return Verdict(True, f"{label} {text}: {told}")


# A tag rule's value: tag keys to globs its values must match.
TAG_GLOBS: Mapping[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 50,
    "propertyNames": {"minLength": 1, "maxLength": 128},
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256},
    "description": "Tag keys (exact) to globs of their values (case-sensitive).",
}


def tags_unusable(key: str, spec: KindSpec) -> str | None:
    """Why a rule reading tags is invalid at this kind: its items carry none."""
    if spec.tags is not None:
        return None
    able = ", ".join(
        sorted(
            p.type
            for p in PROVIDERS.values()
            if spec.kind in p.kinds and p.kinds[spec.kind].tags is not None
        )
    )
    noun = "models" if spec.kind == "model" else f"{spec.kind}s"
    return (
        f"{spec.type} {noun} carry no tags: a {key} rule could never match"
        f" (types whose {noun} do: {able or 'none'})"
    )


def tags_read(record: ModelRecord) -> Tags | TagsUnknown:
    """The record's tags; not read at all is unknown too (never "no tags")."""
    return TagsUnknown("not read") if record.tags is None else record.tags


def tag_text(key: str, value: str) -> str:
    """A tag in a reason: both quoted and cut, so a hostile one stays one short line."""
    return f"{quoted(key, 40)}={quoted(value)}"
