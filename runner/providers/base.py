"""The one provider interface: records in, delete results out, capabilities declared."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from runner.providers.http import HttpClient

DeleteOutcome = Literal["deleted", "already_absent", "failed"]

_UNSAFE_ID = re.compile(r"[/\\\s\x00-\x1f\x7f]|\.\.")


def unsafe_id_reason(model_id: str) -> str | None:
    """Why an ID may not go into a request (None when it is safe)."""
    if not model_id:
        return "empty ID"
    if _UNSAFE_ID.search(model_id):
        return "ID contains '/', '\\', '..', whitespace or control characters"
    if len(model_id) > 256:
        return "ID is longer than 256 characters"
    return None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One fine-tune as the rules see it. No raw JSON is kept, so memory stays flat as
    accounts grow; ``Provider.details`` returns a model's raw object when one is wanted."""

    id: str
    name: str | None = None
    status: str | None = None
    created_at: datetime | None = None  # aware UTC; None when the provider has none
    last_used: datetime | None = None
    problem: str | None = None  # why this listed item can never be deleted
    first_seen: datetime | None = None  # set by the inventory for providers without created_at


@dataclass(frozen=True, slots=True)
class DeleteResult:
    result: DeleteOutcome
    http_status: int | None
    attempts: int
    error: str | None = None


class ProviderError(Exception):
    """A provider call failed in a way the run cannot work around (shown as one line)."""

    def __init__(self, message: str, *, auth: bool = False):
        super().__init__(message)
        self.auth = auth  # credentials rejected: exit 2, like missing credentials


class Provider(Protocol):
    spec: "ProviderSpec"

    def list_models(self) -> Iterator[ModelRecord]: ...

    def exists(self, model_id: str) -> bool: ...

    def details(self, model_id: str) -> dict[str, Any]: ...

    def delete(self, model_id: str) -> DeleteResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProviderSpec:
    """Facts about a provider type that the rules and the validator read."""

    type: str
    default_base_url: str
    default_api_key_env: str
    default_requests_per_minute: int
    has_created_at: bool  # else ages come from the runner's first sighting
    has_status: bool
    details_for_age: bool  # fetch details when a rule needs an age (may carry one)
    auth_header: Callable[[str], dict[str, str]]
    factory: Callable[["HttpClient"], Provider]
