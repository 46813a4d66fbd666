"""What one decision, event, mark, intent and audit record is about: a ``ResourceRef``.

Serialised here and nowhere else: the audit log, plan files, notification bodies and
reports write ``provider`` (the connection's name, as 0.2 did), ``kind`` and ``model_id``
(the item's ID whatever its kind), and a record without ``kind`` reads as a model, so 0.2
logs and plan files keep their meaning.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_KIND = "model"


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """One item at one provider account. ``account`` is the account's key (today the
    connection's name); ``connection`` names the job file's connection it was seen on."""

    account: str
    connection: str
    kind: str
    id: str

    @classmethod
    def on(cls, connection: str, id: str, kind: str = DEFAULT_KIND) -> "ResourceRef":
        return cls(connection, connection, kind, id)

    def fields(self) -> dict[str, str]:
        """The record fields that name it (audit, plan files, notifications, reports)."""
        return {"provider": self.connection, "kind": self.kind, "model_id": self.id}

    @classmethod
    def from_fields(cls, record: Mapping[str, Any]) -> "ResourceRef":
        """Read back what ``fields`` wrote; a record of 0.2 (no ``kind``) is a model.
        The caller has checked the fields are strings (schema or audit verification)."""
        connection = str(record["provider"])
        return cls.on(connection, str(record["model_id"]), str(record.get("kind", DEFAULT_KIND)))

    def __str__(self) -> str:
        return f"{kind_prefix(self)}{self.id} on {self.connection}"


def kind_prefix(ref: ResourceRef) -> str:
    """``deployment `` before an ID of another kind, nothing before a model's: lines and
    rows about models read as they did before there were kinds."""
    return "" if ref.kind == DEFAULT_KIND else f"{ref.kind} "
