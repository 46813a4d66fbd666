"""Opening the state a job file names (temporary: SQLite only until PostgreSQL lands)."""

from collections.abc import Iterable

from runner.clock import Clock
from runner.errors import ConfigError
from runner.state import StateRef, StateStore


def open_state(ref: StateRef) -> StateStore:
    from runner.state.sqlite import SqliteState

    if ref.path is None:
        raise ConfigError(f"{ref}: PostgreSQL state is not supported yet")
    return SqliteState(ref.path)


def open_audit_chain(ref: StateRef, secrets: Iterable[str], clock: Clock) -> "object":
    raise ConfigError(f"{ref}: audit_log: state needs a PostgreSQL state")
