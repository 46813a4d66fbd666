"""The validated job file as plain, immutable records."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from runner.cost import PriceOverride
from runner.cron import CronSpec, EverySpec
from runner.ref import DEFAULT_KIND
from runner.selectors.base import Selector, from_options, in_check_order, option
from runner.state import StateRef


@dataclass(frozen=True)
class Connection:
    """A named connection to one provider account."""

    name: str
    type: str
    api_key_env: str | None  # None: the provider's own credential chain (AWS)
    base_url: str | None  # None: the vendor SDK's own endpoint
    concurrency: int
    requests_per_minute: int
    options: Mapping[str, Any] = field(default_factory=dict)  # the type's own fields
    # The stable key its state is kept under (runner.accounts); empty: its name.
    account: str = ""
    account_name: str | None = None  # the file's account: for it, when given
    # With account:, the key it had without one: its state may still be there (see
    # runner.state.accounts).
    former_account: str | None = None

    @property
    def key(self) -> str:
        return self.account or self.name

    @property
    def label(self) -> str:
        return f"{self.name} ({self.base_url})" if self.base_url else self.name


@dataclass(frozen=True, init=False)
class Target:
    """What one target selects at one connection; its selectors are ANDed.

    ``ids``, ``keep_latest``, ``protect`` and ``match_all`` are the planner's own; every
    other rule is a selector from ``runner.selectors``. A selector's fields can be given
    and read by name (``Target("c", older_than=..., older_than_text="30d")``,
    ``target.older_than``); a rule the target lacks reads as empty.
    """

    connection: str  # the connection's name (the job file calls it `provider:`)
    ids: tuple[str, ...]
    selectors: tuple[Selector, ...]  # in check order
    keep_latest: int | None
    protect: tuple[str, ...]
    match_all: bool
    kind: str  # what it selects at that connection: one of its type's kinds
    # A model target's: the deployments serving a selected model are deleted first, then
    # it (without: a served model is blocked).
    with_deployments: bool

    def __init__(
        self,
        connection: str,
        *,
        ids: tuple[str, ...] = (),
        selectors: tuple[Selector, ...] = (),
        keep_latest: int | None = None,
        protect: tuple[str, ...] = (),
        match_all: bool = False,
        kind: str = DEFAULT_KIND,
        with_deployments: bool = False,
        **rules: Any,
    ) -> None:
        given = (*selectors, *from_options(rules))
        for name, value in (
            ("connection", connection), ("ids", ids), ("selectors", in_check_order(given)),
            ("keep_latest", keep_latest), ("protect", protect), ("match_all", match_all),
            ("kind", kind), ("with_deployments", with_deployments),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes: a selector's field.
        if name.startswith("_") or "selectors" not in self.__dict__:
            raise AttributeError(name)
        return option(self.selectors, name)

    @property
    def has_rules(self) -> bool:
        """Whether it selects by rules (an exempting rule, protect_tags, selects nothing)."""
        return self.match_all or any(not s.exempts for s in self.selectors)

    @property
    def needs_tags(self) -> bool:
        return any(s.needs_tags for s in self.selectors)

    @property
    def host_guards(self) -> tuple[Selector, ...]:
        """With ``with_deployments``: its exempting rules (protect_tags), which keep the
        deployments it would delete as they keep its models ("never delete" is about
        every item it reaches)."""
        return tuple(s for s in self.selectors if s.exempts) if self.with_deployments else ()

    @property
    def needs_ages(self) -> bool:
        return any(s.needs_ages for s in self.selectors) or bool(self.keep_latest)


@dataclass(frozen=True)
class Job:
    """A named job: its targets (ORed), limits, grace and schedule."""

    name: str
    targets: tuple[Target, ...]
    max_deletions: int = 50
    max_deletions_percent: int | None = None
    grace: timedelta | None = None
    grace_text: str | None = None
    schedule: str | None = None
    schedule_spec: CronSpec | EverySpec | None = None
    misfire_grace_time: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class NotifyTarget:
    """A webhook told about a job run; only its URL's variable name is in the file. With
    ``by_owner`` (owner -> URL variable, ``*`` for the rest) there is one webhook per
    owner instead of ``url_env``, each told only about its owner's items."""

    name: str
    url_env: str | None
    format: Literal["json", "slack"]
    events: tuple[str, ...]  # among marked, deleted, failed, limit
    by_owner: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobFile:
    """A validated job file: connections, jobs and where records are kept."""

    path: Path
    sha256: str
    connections: dict[str, Connection]
    jobs: tuple[Job, ...]
    audit_log: Path | None  # None: the audit chain lives in the state database
    state: StateRef
    notify: tuple[NotifyTarget, ...] = ()
    prices: tuple[PriceOverride, ...] = ()  # the job file's prices:, first match wins
    owner_tag: str | None = None  # the tag naming each item's owner (notify by_owner)
    # Connections listed, read and deleted on at once (each within its own concurrency).
    parallel_connections: int = 8
    warnings: tuple[str, ...] = ()  # about where the file lives, not what it says

    @property
    def routes_by_owner(self) -> bool:
        """Whether a notification goes to owners (so items' tags must be read)."""
        return self.owner_tag is not None and any(n.by_owner for n in self.notify)
