"""Record mapping, declared: how one listed item (a provider's JSON object, or botocore's
dict) becomes a ``ModelRecord``.

Each provider module declares a ``RecordMap`` per kind it lists, as a module-level
constant next to its lister, and the lister hands what it listed to ``map_records``. The
type checks and the problem texts live here, once, so every type reads hostile input the
same way and never raises::

    JOBS = RecordMap(
        id=Id("id"),
        name=(Text("suffix"), Text("model_output_name")),  # the first that reads
        status=Text("status"),
        created_at=Time("created_at", RFC3339),
        base_model=Text("settings.base_model.name"),  # a dotted path into nested objects
    )
    for record in map_records(JOBS, items, KIND): ...

A kind that hosts models declares what it serves, what it is billed for and any
commitment the same way; what no path holds as it is, a ``Computed`` reads::

    PROVISIONED = RecordMap(
        id=Id("provisionedModelName"),
        status=Text("status"),
        created_at=Time("creationTime", SDK_DATETIME),
        serves=Computed(lambda item, scope: (item["modelArn"].rsplit("/", 1)[1],)),
        billing=Computed(model_units),  # -> Billing(Decimal(item["modelUnits"]), ...)
        committed_until=Time("commitmentExpirationTime", SDK_DATETIME),
    )

What each part reads, and what it makes of what it cannot read:

- The item: an object (a ``Mapping``), else "listed item is not an object". A map with
  ``bare="a finetune ID"`` also takes a non-empty string as the item's ID (and name), and
  says "listed item 'X' is not a finetune ID" of anything else.
- ``only=Only(path, values | prefix=)``: an item whose value is not one of ``values`` (or
  does not start with ``prefix``) is left out of the listing, as a base model or another
  kind is: never a candidate and no skip line either. A filter on the ID's own path runs
  after the ID is read, so an item without a readable ID is shown, never silently dropped.
- ``id=Id(path, also=(other paths,))``: the first non-empty string, else "listed item
  has no PATH" and no record is built around it, but for what it serves: a deployment
  that cannot be named still blocks the models it hosts.
  ``Id(path, under="accounts/{account}/models/")`` takes the ID from a resource name
  under that prefix (its ``{names}`` filled from ``map_records``' scope);
  any other name is "listed model PATH 'NAME' is not under PREFIX". ``Id(path, check=)``
  names a rule the ID must pass: a refused ID is kept, with "PATH REASON" as the problem.
- ``Text(path, via=)``: a non-empty string (``via`` may derive a value from it, e.g. a
  segment of an ARN), else None; a tuple of them is read in order, the first that reads
  wins, and ``ITS_ID`` stands for the record's ID. A name or a base model that cannot be
  read is none at all, never a guess: no rule can match it (nor can a ``via`` that
  fails on a hostile value).
- ``status``: as ``Text``, but a value that is present and not a non-empty string (a
  number, a list, "") is "unreadable PATH VALUE": the item's state is unknown, so it is
  never deleted. Absent or null is no status (the spec says what that means).
  ``lifecycle`` is always the spec's reading of the status.
- ``Time(path, format)`` for ``created_at``, ``last_used`` and ``committed_until``:
  absent or null is None (an age rule cannot match; a commitment is none). Present but
  unreadable in its ``format`` (``RFC3339``, ``UNIX_SECONDS``, ``SDK_DATETIME``), naive
  where the format demands a zone, or outside what a datetime holds, is "unreadable PATH
  'VALUE'": the item is never deleted. ``shown`` says how the value appears in that text.
- ``Computed(fn)`` for values made from the whole item (``serves``: the models a
  deployment hosts; ``billing``: what it is billed for): ``fn(item, scope)`` returns the
  value (None: there is none), or raises ``Unreadable`` with the problem text; any other
  error it meets on a hostile item (``ValueError``, ``TypeError``, ``LookupError``,
  ``AttributeError``, ``ArithmeticError``) and a value of the wrong type (``serves`` not a
  tuple of non-empty strings, ``billing`` not a ``Billing``) are "unreadable FIELD" as
  well, never a crash. A deployment's unreadable commitment thus blocks it for good.

- ``tags=TagsAt(path)``: the item's tags, as an object of strings (``{"team": "nlp"}``) or
  AWS's list of ``{key, value}`` pairs (``read_tags``); absent or null is no tags. With
  ``any_case=True`` (ARM) a name is found whatever its case. Anything
  else (a value that is not a string, a key given twice) is ``TagsUnknown``: a rule that
  reads tags never selects the item, and ``protect_tags`` keeps it. The item itself stays
  usable: its tags are not a problem to a rule that does not read them.
- ``resource_name=Text(path)``: the provider's full name for the item (an ARN) where a
  later read needs it (Bedrock's ``ListTagsForResource``).

A record keeps the first problem found, in this order: the ID's check, the times, the
status, then the computed fields.
"""

import string
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from runner.clock import parse_instant
from runner.providers.base import Billing, Lifecycle, ModelRecord, Tags, TagsUnknown

Scope = Mapping[str, str]  # what an ``Id(under=)`` prefix is filled from, e.g. the account


class Unreadable(Exception):
    """Raised by a ``Computed`` reader: the field cannot be read; the text is the problem."""


class Specified(Protocol):
    """What the spec of a type or kind says a status means."""

    def lifecycle(self, status: str | None) -> Lifecycle: ...


def utc(value: datetime) -> datetime:
    """An SDK's datetime as aware UTC. moto sends times without a zone (botocore then builds
    a naive datetime); AWS always sends one. A naive time is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _rfc3339(value: Any) -> datetime:
    return parse_instant(value)  # a non-string, no zone or no time at all: ValueError


def _unix_seconds(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number of seconds")
    return datetime.fromtimestamp(value, UTC)


def _sdk_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str):  # defensively: an SDK that left a string unparsed
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    raise TypeError("not a datetime")


@dataclass(frozen=True)
class TimeFormat:
    """How a provider writes a time; ``read`` raises on anything it cannot read."""

    name: str
    read: Callable[[Any], datetime]


RFC3339 = TimeFormat("RFC 3339 with a zone", _rfc3339)
UNIX_SECONDS = TimeFormat("Unix seconds", _unix_seconds)
SDK_DATETIME = TimeFormat("a datetime from the SDK (naive is UTC)", _sdk_datetime)

# What reading a hostile value may raise: out of range, a naive time, a wrong type.
_UNREADABLE = (ValueError, TypeError, OverflowError, OSError)
# What a declared transform (``via``, ``Computed``) may raise on a hostile item's shape.
_MISSHAPEN = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)


def quoted(raw: Any, width: int = 60) -> str:
    """A value for a problem text: its first ``width`` characters as text, quoted."""
    try:
        text = raw[:width] if isinstance(raw, str) else str(raw)[:width]
    except ValueError:  # an int too long to print (Python's digit limit)
        text = f"<{type(raw).__name__}>"
    return repr(text)


def as_sent(raw: Any) -> str:
    """A value for a problem text as Python writes it: a number stays a number (12345),
    a string is quoted; cut to 60 characters."""
    if isinstance(raw, str):
        return repr(raw[:60])
    try:
        return repr(raw)[:60]
    except ValueError:
        return f"<{type(raw).__name__}>"


@dataclass(frozen=True)
class Text:
    """A string field at ``path`` (dots walk into nested objects)."""

    path: str
    via: Callable[[str], str | None] | None = None  # derives the value from the text


class _ItsId:
    def __repr__(self) -> str:
        return "ITS_ID"


ITS_ID = _ItsId()  # in a tuple of Text: the record's own ID

TextSource = Text | tuple[Text | _ItsId, ...]


@dataclass(frozen=True)
class Id:
    """Where the ID is: ``path`` (else the first of ``also`` that holds a string), or a
    resource name ``under`` a prefix; ``check`` names why an ID is refused (None: fine)."""

    path: str
    also: tuple[str, ...] = ()
    under: str | None = None
    check: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Time:
    path: str
    format: TimeFormat
    shown: Callable[[Any], str] = quoted


@dataclass(frozen=True)
class Computed:
    """A value made by code from the whole item, for what no path holds as it is."""

    read: Callable[[Mapping[str, Any], Scope], Any]


@dataclass(frozen=True)
class TagsAt:
    """Where an item's tags are: an object of strings, or a list of ``{key, value}``.
    ``any_case``: the provider treats tag names alike whatever their case (ARM: "a tag
    name is case-insensitive"), so a rule's ``keep`` must find its ``Keep``."""

    path: str
    any_case: bool = False


class AnyCaseTags(Mapping[str, str]):
    """Tags looked up by name whatever its case, listed as the provider sent them."""

    def __init__(self, tags: Mapping[str, str]):
        self._tags = dict(tags)
        self._folded = {key.casefold(): value for key, value in tags.items()}

    def __getitem__(self, key: str) -> str:
        return self._folded[key.casefold()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)


def read_tags(raw: Any, where: str, any_case: bool = False) -> Tags | TagsUnknown:
    """Tags as a provider sent them: ``{KEY: VALUE}`` (OpenAI's metadata, ARM's tags) or
    ``[{"key": KEY, "value": VALUE}]`` (AWS; ``Key``/``Value`` too). None is no tags;
    what is not strings, or names a key twice, is unknown (``where`` names the field).
    ``any_case``: names are one whatever their case (``TagsAt``), and two that differ
    only in case are one key given twice."""
    if raw is None:
        return {}
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(p, Mapping) for p in raw):
        pairs = [(p.get("key", p.get("Key")), p.get("value", p.get("Value"))) for p in raw]
    else:
        return TagsUnknown(f"unreadable {where}: not an object or a list of key/value pairs")
    out: dict[str, str] = {}
    names: set[str] = set()
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            return TagsUnknown(f"unreadable {where}: {quoted(key, 40)} is not a string pair")
        name = key.casefold() if any_case else key
        if name in names:
            return TagsUnknown(f"unreadable {where}: key {quoted(key, 40)} is given twice")
        names.add(name)
        out[key] = value
    return AnyCaseTags(out) if any_case else out


@dataclass(frozen=True)
class Only:
    """Which listed items this map lists at all: ``path``'s value is one of ``values``, or
    starts with ``prefix``."""

    path: str
    values: frozenset[str] | None = None
    prefix: str | None = None

    def admits(self, item: Mapping[str, Any]) -> bool:
        value = _at(item, self.path)
        if not isinstance(value, str):
            return False
        if self.values is not None and value not in self.values:
            return False
        return self.prefix is None or value.startswith(self.prefix)


@dataclass(frozen=True)
class RecordMap:
    """One kind's listed item, declared; see the module docstring for what each reads."""

    id: Id
    name: TextSource | None = None
    status: Text | None = None
    created_at: Time | None = None
    last_used: Time | None = None
    base_model: TextSource | None = None
    serves: Computed | None = None  # a tuple of model IDs
    billing: Computed | None = None  # a Billing
    committed_until: Time | None = None
    tags: TagsAt | None = None
    resource_name: Text | None = None
    only: Only | None = None
    bare: str | None = None  # what a bare string item is ("a finetune ID"); None: refused

    def scope_names(self) -> frozenset[str]:
        """The names ``map_records`` must be given a value for."""
        if self.id.under is None:
            return frozenset()
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.id.under) if name)


def _at(item: Mapping[str, Any], path: str) -> Any:
    value: Any = item
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text_or_none(value: Any) -> str | None:
    """A non-empty string as it is; anything else (a number, "", a list) as None."""
    return value if isinstance(value, str) and value else None


def _read_text(item: Mapping[str, Any], source: TextSource | None, own_id: str) -> str | None:
    for part in source if isinstance(source, tuple) else (source,):
        if part is None:
            continue
        if isinstance(part, _ItsId):
            return own_id
        value = text_or_none(_at(item, part.path))
        if value is not None and part.via is not None:
            try:
                value = text_or_none(part.via(value))
            except _MISSHAPEN:
                value = None
        if value is not None:
            return value
    return None


def _noun(prefix: str) -> str:
    """What a resource-name prefix names: "accounts/{a}/models/" -> "model"."""
    return prefix.rstrip("/").rsplit("/", 1)[-1].removesuffix("s") or "item"


def _read_id(rmap: RecordMap, item: Any, scope: Scope) -> str | ModelRecord:
    """The item's ID, or the record that says why it has none."""
    spot = rmap.id
    raw = None
    if isinstance(item, Mapping):
        raw = next(
            (
                v
                for path in (spot.path, *spot.also)
                if (v := text_or_none(_at(item, path))) is not None
            ),
            None,
        )
    elif rmap.bare is not None:
        raw = text_or_none(item)
    if rmap.bare is not None:
        if raw is None:
            return ModelRecord(id="", problem=f"listed item {quoted(item, 40)} is not {rmap.bare}")
        return raw
    if not isinstance(item, Mapping):
        return ModelRecord(id="", problem="listed item is not an object")
    if spot.under is None:
        return (
            raw
            if raw is not None
            else ModelRecord(id="", problem=f"listed item has no {spot.path}")
        )
    prefix = spot.under.format_map(scope)
    rest = raw[len(prefix) :] if raw is not None and raw.startswith(prefix) else ""
    if rest and "/" not in rest:
        return rest
    # Another account's resource, or no name at all: its ID here is unknown.
    shown = "" if raw is None else f" {raw[:80]!r}"
    noun = _noun(spot.under)
    return ModelRecord(id="", problem=f"listed {noun} {spot.path}{shown} is not under {prefix}")


def _time(item: Mapping[str, Any], spot: Time | None) -> tuple[datetime | None, str | None]:
    if spot is None:
        return None, None
    raw = _at(item, spot.path)
    if raw is None:
        return None, None
    try:
        return spot.format.read(raw), None
    except _UNREADABLE:
        return None, f"unreadable {spot.path} {spot.shown(raw)}"


def _status(item: Mapping[str, Any], spot: Text | None) -> tuple[str | None, str | None]:
    if spot is None:
        return None, None
    raw = _at(item, spot.path)
    if raw is None:
        return None, None
    if not isinstance(raw, str) or not raw:
        return None, f"unreadable {spot.path} {quoted(raw)}"
    return raw, None


def _computed(
    item: Mapping[str, Any], spot: Computed | None, field: str, scope: Scope, kind: type
) -> tuple[Any, str | None]:
    """A computed field's value, checked to be a ``kind``; None (no problem) when the
    reader found nothing."""
    if spot is None:
        return None, None
    try:
        value = spot.read(item, scope)
    except Unreadable as why:
        return None, str(why)
    except _MISSHAPEN:
        return None, f"unreadable {field}"
    if value is None or isinstance(value, kind):
        return value, None
    return None, f"unreadable {field}"


def _serves(
    item: Mapping[str, Any], rmap: RecordMap, scope: Scope
) -> tuple[tuple[str, ...] | None, str | None]:
    serves, problem = _computed(item, rmap.serves, "serves", scope, tuple)
    if serves and not all(isinstance(one, str) and one for one in serves):
        return None, "unreadable serves"  # model IDs are strings
    return serves, problem


def map_record(
    rmap: RecordMap, item: Any, spec: Specified, scope: Scope | None = None
) -> ModelRecord | None:
    """One listed item as a record; None when ``rmap.only`` leaves it out. Never raises:
    what cannot be read is None or the record's ``problem``."""
    scope = scope or {}
    only = rmap.only
    # A filter on another path runs first: what it leaves out needs no ID.
    if only and only.path != rmap.id.path and isinstance(item, Mapping) and not only.admits(item):
        return None
    own_id = _read_id(rmap, item, scope)
    if isinstance(own_id, ModelRecord):
        if rmap.serves is None or not isinstance(item, Mapping):
            return own_id
        # What an item hosts holds whether or not it can be named: a model it serves
        # stays served (blocked by this unnamed, undeletable record), never freed.
        return replace(own_id, serves=_serves(item, rmap, scope)[0] or ())
    if not isinstance(item, Mapping):  # a bare ID: only the ID stands for anything
        item = {}
    if only and only.path == rmap.id.path and not only.admits(item):
        return None
    created_at, created_problem = _time(item, rmap.created_at)
    last_used, used_problem = _time(item, rmap.last_used)
    committed_until, commit_problem = _time(item, rmap.committed_until)
    status, status_problem = _status(item, rmap.status)
    serves, serves_problem = _serves(item, rmap, scope)
    billing, billing_problem = _computed(item, rmap.billing, "billing", scope, Billing)
    check = rmap.id.check
    refused = check(own_id) if check is not None else None
    problems = (
        f"{rmap.id.path} {refused}" if refused else None,
        created_problem,
        used_problem,
        commit_problem,
        status_problem,
        serves_problem,
        billing_problem,
    )
    base_model = _read_text(item, rmap.base_model, own_id)
    return ModelRecord(
        id=own_id,
        name=_read_text(item, rmap.name, own_id),
        # A listing repeats a few statuses and base models over and over: one copy each
        # keeps 100,000 records about 12 MiB smaller.
        status=sys.intern(status) if status is not None else None,
        lifecycle=spec.lifecycle(status),
        created_at=created_at,
        last_used=last_used,
        base_model=sys.intern(base_model) if base_model is not None else None,
        problem=next((p for p in problems if p), None),
        serves=serves or (),
        billing=billing,
        committed_until=committed_until,
        tags=None
        if rmap.tags is None
        else read_tags(_at(item, rmap.tags.path), rmap.tags.path, rmap.tags.any_case),
        resource_name=_read_text(item, rmap.resource_name, own_id),
    )


def map_records(
    rmap: RecordMap, items: Iterable[Any], spec: Specified, scope: Scope | None = None
) -> Iterator[ModelRecord]:
    """Every listed item as a record, leaving out what ``rmap.only`` does not list."""
    for item in items:
        if (record := map_record(rmap, item, spec, scope)) is not None:
            yield record
