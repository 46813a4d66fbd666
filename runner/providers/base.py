"""The one provider interface: a type's spec, which opens a session, and for each kind
of resource it has, the kind's facts, a lister and a deleter.

A dry run is handed listers only. A deleter is built from a lister by its kind's
``deleter``, which only the apply phase of a real run calls, so a dry run holds nothing
that can delete. Specs are plain data: importing one imports no HTTP or vendor library.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from runner.cost import PriceFact, PriceOverride
from runner.errors import OutcomeUnknown, ProviderError
from runner.ref import DEFAULT_KIND

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.ratelimit import Limiters
    from runner.usage import Usage

__all__ = ["OutcomeUnknown", "ProviderError"]  # re-exported: the interface's own errors

DeleteOutcome = Literal["deleted", "already_absent", "failed"]
Lifecycle = Literal["ready", "in_progress", "failed", "deleted", "unknown"]
Credential = Literal["api_key", "aws"]  # aws: the AWS credential chain, never a key variable

# `%`, `?` and `#` would be sent encoded, yet no provider makes such IDs: one that shows up is
# a listing gone wrong or a crafted record, so it is refused like a path separator.
_UNSAFE_ID = re.compile(r"[/\\%?#\s\x00-\x1f\x7f-\x9f]|\.\.")


def unsafe_id_reason(model_id: str) -> str | None:
    """Why an ID may not go into a request path (None when it is safe)."""
    if not model_id:
        return "empty ID"
    if _UNSAFE_ID.search(model_id):
        return "ID contains '/', '\\', '..', '%', '?', '#', whitespace or control characters"
    if len(model_id) > 256:
        return "ID is longer than 256 characters"
    return None


# An item's tags (or labels, or metadata) as its provider holds them: key -> value.
Tags: TypeAlias = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TagsUnknown:
    """The item's tags could not be read: ``why``, for people. A rule that reads tags
    never selects such an item, and ``protect_tags`` keeps it: what cannot be read is kept."""

    why: str


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One fine-tune as the rules see it. No raw JSON is kept, so memory stays flat as
    accounts grow; ``Lister.details`` returns a model's raw object when one is wanted."""

    id: str
    name: str | None = None
    status: str | None = None  # the provider's own word, shown to users
    lifecycle: Lifecycle = "ready"  # what the status means, mapped by the provider's spec
    created_at: datetime | None = None  # aware UTC; None when the provider has none
    last_used: datetime | None = None
    base_model: str | None = None
    problem: str | None = None  # why this listed item can never be deleted
    first_seen: datetime | None = None  # set by the inventory for providers without created_at
    # Kinds that host models (deployments): the IDs of the account's models this one serves.
    serves: tuple[str, ...] = ()
    billing: "Billing | None" = None  # what its cost is computed from; None: unknown
    # A commitment (Bedrock PT) it may not be deleted before; an unreadable one is a problem.
    committed_until: datetime | None = None
    # What it costs a month (None: unknown) and why: set by the planner from the price
    # facts and the job file's prices: (runner.cost), never by a provider.
    monthly_cost: Decimal | None = None
    cost_basis: str = ""
    # What its kind's usage source saw (runner.usage), set by the planner from the run's
    # read, never by a provider; None: not read (no unused_for rule reads this listing).
    usage: "Usage | None" = None
    # Its tags (runner.providers.mapping reads them); None: not read, because its kind has
    # none or no rule of the run reads them (a kind's ``tags`` source says how they are read).
    tags: Tags | TagsUnknown | None = None
    # The provider's full name for it where a read needs one (a Bedrock ARN); None: none.
    resource_name: str | None = None


@dataclass(frozen=True, slots=True)
class Billing:
    """What a listed item is billed for, as the provider says it, for ``runner.cost`` to
    price: ``units`` of ``unit`` (model units, GPUs x replicas, accelerators x replicas)
    while it runs, and the provider's own words the job file's ``prices:`` match on."""

    units: Decimal  # 0 when stopped or scaled to zero: it costs nothing now
    unit: str  # for people: "model unit", "nvidia_h100_80gb", "NVIDIA_H100_80GB"
    keys: Mapping[str, str] = field(default_factory=dict)  # base_model, hardware, accelerator


@dataclass(frozen=True, slots=True)
class DeleteResult:
    result: DeleteOutcome
    http_status: int | None
    attempts: int
    error: str | None = None
    transient: bool = False  # failed for a reason a later pass may not meet (no answer, 429, 5xx)
    # A success status whose answer is not the type's declared one: only a lookup can say
    # whether the model is gone (runner.deletion settles it; no outcome keeps this set).
    unconfirmed: bool = False
    # The provider accepted the delete and carries it out later (the type's declared
    # ``DeleteAnswer.accepted``): the item is waiting until a lookup proves it gone, at most
    # this long. runner.deletion settles it; only a run stopped while waiting keeps it set.
    accepted: timedelta | None = None


TagReader: TypeAlias = Callable[[Any, Sequence[ModelRecord]], Mapping[str, Tags | TagsUnknown]]


@dataclass(frozen=True)
class TagSource:
    """How a kind's items carry tags: ``reads`` says what, for people (the README's table);
    ``read`` fetches them for listed records through the kind's lister (by ID; a record it
    does not answer for has unknown tags), only when a rule needs them. Without ``read``
    the listing itself carries them (the kind's ``RecordMap`` reads ``tags=``)."""

    reads: str
    read: TagReader | None = None


class _TheId:
    def __repr__(self) -> str:
        return "THE_ID"


THE_ID: Any = _TheId()  # in a DeleteAnswer: the deleted model's own ID
# How long an accepted delete may take to come true unless its kind says otherwise.
ACCEPTED_WITHIN = timedelta(minutes=10)


@dataclass(frozen=True)
class DeleteAnswer:
    """What a type answers when it has deleted a model (PROVIDERS.md): ``status`` and a
    JSON object with exactly the keys of ``fields``. A field's value is a constant the
    answer must hold (``True`` is not ``1``), ``str`` for any string, or ``THE_ID`` for the
    model's own ID. A success status is never proof by itself: an HTML page, an error
    object or another model's ID behind a 200 is not a delete.

    ``accepted`` declares the answer of a type that deletes later (a long-running delete:
    Azure's 202): that answer is no delete either, only a promise a lookup must prove."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200
    accepted: "AcceptedAnswer | None" = None  # None: every delete it answers is done
    # False: the object may hold other keys too (an accepted answer that is the whole item,
    # such as a deployment answered in its deleting state).
    exact: bool = True

    def accepts(self, status: int | None, body: Any, model_id: str) -> timedelta | None:
        """How long the item may take to go, when this is the declared accepted answer."""
        if self.accepted is None or not self.accepted.answer.confirms(status, body, model_id):
            return None
        return self.accepted.within

    def confirms(self, status: int | None, body: Any, model_id: str) -> bool:
        if status != self.status or not isinstance(body, dict):
            return False
        keys, wanted = body.keys(), self.fields.keys()
        if not (keys == wanted if self.exact else keys >= wanted):
            return False
        return all(_holds(want, body[key], model_id) for key, want in self.fields.items())


@dataclass(frozen=True)
class AcceptedAnswer:
    """A type's answer to a delete it carries out later (``answer``, read like a done one),
    and its deadline: an item still there ``within`` after it is ``failed``."""

    answer: DeleteAnswer
    within: timedelta = ACCEPTED_WITHIN


def _holds(want: Any, got: Any, model_id: str) -> bool:
    if want is THE_ID:
        return isinstance(got, str) and got == model_id
    if want is str:
        return isinstance(got, str)
    return type(got) is type(want) and bool(got == want)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink the waits; production keeps these. Plain data, so
    that specs and options can name it without importing the HTTP core."""

    attempts: int = 6
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.25
    backoff_max: float = 30.0
    retry_after_max: int = 60
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class ConnectOptions:
    """What every connect needs besides the connection and its secret."""

    limiters: "Limiters"
    policy: RetryPolicy | None = None  # None: the production default
    notice: Callable[[str], None] | None = None  # says what a long wait is waiting for
    # Connection name -> the key its kind's usage source reads with (runner.usage), for
    # connections an unused_for rule reads; checked before anything was opened.
    usage_keys: Mapping[str, str] = field(default_factory=dict)
    # Where credential variables beyond the key are read (Azure's management token): the
    # run's environment, as the key check read it; None: the process's.
    environ: Mapping[str, str] | None = None


class Lister(Protocol):
    spec: "KindSpec"  # the kind it lists

    def list_models(self) -> Iterator[ModelRecord]: ...

    def exists(self, model_id: str) -> bool: ...

    def details(self, model_id: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Deleter(Protocol):
    def delete(self, model_id: str) -> DeleteResult:
        """Raises OutcomeUnknown when no usable answer came."""
        ...

    def exists(self, model_id: str) -> bool: ...


L = TypeVar("L", bound=Lister)


@dataclass(frozen=True)
class ProviderSpecOf(Generic[L]):
    """Facts about a provider type: the validator, the rules, the schema and the README's
    provider table read these, never the provider's name. What it lists and deletes are
    its ``kinds``, each with its own facts (``model`` for every type).

    ``L`` is what the type's ``connect`` opens: the connection's session, which is also
    the ``model`` kind's lister (HTTP listers carry ``.client``, Bedrock's its botocore client);
    every other kind builds its lister from it.
    """

    type: str
    title: str
    credential: Credential
    default_api_key_env: str | None
    default_base_url: str | None  # None: the vendor SDK's own endpoint
    default_requests_per_minute: int
    connect: Callable[["Connection", str | None, ConnectOptions], L]
    kinds: Mapping[str, "KindSpec"]
    # Extra connection fields as JSON Schema properties, and which of them are required.
    connection_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required_fields: tuple[str, ...] = ()
    # A list field standing for one connection per value of a single field (Bedrock's
    # ``regions`` -> ``region``): the connection is expanded into NAME/VALUE connections,
    # and the list satisfies the single field's requirement.
    expands: Mapping[str, str] = field(default_factory=dict)
    # The connection fields that say which account it reaches (Fireworks ``account_id``;
    # Bedrock's region and credentials): with the type and host they make the stable key
    # the state is kept under (runner.accounts). None of them may hold a secret.
    account_fields: tuple[str, ...] = ()
    # Connection fields a target needs when it reaches the type's hosting kinds or usage
    # (a kind other than model, unused_for, with_deployments): Azure's ARM scope.
    hosting_fields: tuple[str, ...] = ()
    # A credential some of its connections need besides the key (Azure's management token).
    extra_credential: "ExtraCredential | None" = None

    def kind_order(self) -> list[str]:
        """The type's kinds, ``model`` first, then by name: how people are shown them."""
        return sorted(self.kinds, key=lambda k: (k != DEFAULT_KIND, k))

    def kind_names(self) -> str:
        return ", ".join(self.kind_order())

    def hosting_kinds(self) -> list[str]:
        """Its kinds whose items host its models (``serves_models``): a model they serve
        is judged by them, so a model target lists them too."""
        return [k for k in self.kind_order() if self.kinds[k].serves_models]


@dataclass(frozen=True)
class ExtraCredential:
    """A credential a connection needs besides its key (Azure's management token for ARM
    and Azure Monitor): what it is, for people, and its check before any request is sent
    (``check(connection, environ)``: the problem, for one line of exit 2, or None)."""

    says: str
    check: Callable[["Connection", Mapping[str, str]], str | None]


@dataclass(frozen=True)
class KindSpecOf(Generic[L]):
    """One kind of resource a provider type has (``model``, ``deployment``): its facts,
    its lister (made from the session the type's ``connect`` opens) and its deleter.

    A kind may live in a module of its own (``together_deployment.py`` exposing ``KIND``):
    adding a kind to a type then adds files and edits none.
    """

    type: str  # the provider type it belongs to
    kind: str
    listed: str  # what is listed, for people
    deleted: str  # what is deleted, for people
    lister: Callable[[Any], L]  # from the connection's session
    deleter: Callable[[L], Deleter]
    delete_answer: DeleteAnswer  # what proves a delete happened; anything else is settled
    statuses: tuple[str, ...] = ()  # what a status: rule may name; empty: no status at all
    in_progress: frozenset[str] = frozenset()  # never selected unless a status: rule names it
    failed: frozenset[str] = frozenset()
    gone: frozenset[str] = frozenset()  # already deleted: never deleted again
    has_created_at: bool = True  # else ages come from the runner's first sighting
    details_for_age: bool = False  # fetch details when a rule needs an age (may carry one)
    has_base_model: bool = False
    # The registered source (runner.usage) its last use is read from; None: none, and an
    # unused_for rule is invalid on this kind.
    usage: str | None = None
    serves_models: bool = False  # its records name the models they host (``serves``)
    # Kinds whose items must be gone before one of this kind is deleted (a model hosted
    # by a deployment: ``("deployment",)``), as libnuke's DependsOn.
    depends_on: tuple[str, ...] = ()
    name_source: str = "name"  # what name: globs match, for people
    not_found_proof: str = ""  # what proves an item already absent, for people
    id_rule: Callable[[str], str | None] = unsafe_id_reason
    price: PriceFact | None = None  # the default price (PROVIDERS.md); None: unknown
    # Prices by the provider's own words (hardware, accelerator), before ``price``; each
    # with its source, as ``price`` has. The job file's prices: come before both.
    prices_by: tuple[PriceOverride, ...] = ()
    # The prices: selectors its records carry besides base_model (their Billing.keys), so
    # that a selector no kind carries is refused at validation instead of pricing nothing.
    billed_by: tuple[str, ...] = ()
    tags: TagSource | None = None  # None: its items carry no tags, and tag rules are invalid

    @property
    def price_selectors(self) -> tuple[str, ...]:
        """What a prices: entry may select this kind's items by, besides type and kind."""
        return (*(("base_model",) if self.has_base_model else ()), *self.billed_by)

    @property
    def has_last_used(self) -> bool:
        return self.usage is not None

    def lifecycle(self, status: str | None) -> Lifecycle:
        if status in self.gone:
            return "deleted"
        if status in self.in_progress:
            return "in_progress"
        if status in self.failed:
            return "failed"
        # No status at all (moto leaves Bedrock's out) is no word to misread: it passes.
        if status is not None and self.statuses and status not in self.statuses:
            # A word added after this list was written may mean busy as well as done:
            # rules never select it (the plan skips it, naming the word).
            return "unknown"
        return "ready"


def itself(session: L) -> L:
    """The ``model`` kind's lister: the session ``connect`` opened lists models."""
    return session


KindSpec: TypeAlias = KindSpecOf[Any]


# Any provider's spec, as the registry and every reader of facts hold it; the engine
# hands a spec's deleter only listers made by that same spec's connect.
ProviderSpec: TypeAlias = ProviderSpecOf[Any]
