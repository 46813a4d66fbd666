"""What a usage source is: one small class that reads, in one go, when each of many items
of one connection was last used, and says since when its read can vouch for that.

The rules never read a provider: a source's answer is handed to the planner as data, and a
source that cannot be read raises ``UsageUnknown``, which the planner turns into "keep"
(``usage unknown: WHY``), never into "unused".
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar

from runner.clock import parse_instant, rfc3339
from runner.ref import ResourceRef

if TYPE_CHECKING:
    from runner.providers.base import ModelRecord

# Every registered source by name, as a kind's ``usage`` names it.
REGISTRY: dict[str, "UsageSource"] = {}
# How a skip for a use that could not be vouched for begins (DESIGN.md "usage unknown:
# WHY"); the planner finds such skips by it, to end the job partial.
USAGE_UNKNOWN = "usage unknown: "


@dataclass(frozen=True, slots=True)
class Seen:
    """What a read saw of one item: its last use (None: none in what was read), and since
    when the read vouches for that (None: the item's whole life, so no use is "never")."""

    last_used: datetime | None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """The item's use could not be read: ``why``, for people (provider text escaped)."""

    why: str


Usage: TypeAlias = Seen | Unknown


@dataclass(frozen=True, slots=True)
class LastUse:
    """Why an ``unused_for`` selection was made, as the audit and a reviewed plan keep it:
    the source that read the item's use and the last use it saw (None: none in its read)."""

    source: str
    last_used: datetime | None

    def fields(self) -> dict[str, str | None]:
        """The fields it adds to a ``delete.planned`` record and a plan file entry."""
        when = None if self.last_used is None else rfc3339(self.last_used)
        return {"last_used": when, "usage_source": self.source}

    @classmethod
    def from_fields(cls, record: Mapping[str, Any]) -> "LastUse | None":
        """Read back what ``fields`` wrote (None: a record without them, of 0.2 or of
        another rule). The caller has checked their types; ValueError: an unreadable time."""
        if "usage_source" not in record:
            return None
        when = record.get("last_used")
        return cls(str(record["usage_source"]), None if when is None else parse_instant(when))


class UsageUnknown(Exception):
    """A source could not read usage (an error, a refusal, a malformed answer)."""


class UsageSource(ABC):
    """A way to read the last use of a kind's items; registered by ``name``."""

    name: ClassVar[str]
    reads: ClassVar[str]  # what it reads, for people (the README's provider table)
    # The connection field naming the environment variable of a key of its own (OpenAI's
    # admin key), or None: it reads with the connection's own credential. The field is
    # declared, with its default, in the type's ``connection_fields``; the key is checked
    # before any request (runner.credentials) and handed to the type's ``connect``.
    key_field: ClassVar[str | None] = None

    @abstractmethod
    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        """What was seen of each item between ``start`` (the earliest the rules need) and
        ``now`` (the run's clock), read through the kind's ``lister``. Raises
        ``UsageUnknown`` when the read fails; an item missing from the answer is unknown."""


S = TypeVar("S", bound=type[UsageSource])


def register(cls: S) -> S:
    """Class decorator: add a source to the registry under its name."""
    if cls.name in REGISTRY and type(REGISTRY[cls.name]) is not cls:
        raise ValueError(f"usage source {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls
