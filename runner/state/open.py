"""Open the configured state (and the audit chain kept in it) from a StateRef.

psycopg is imported only when the state is a postgresql:// URL, so SQLite users never
need the ``ftjanitor[postgres]`` extra.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runner.clock import Clock, system_clock
from runner.errors import ConfigError
from runner.state import StateRef, StateStore
from runner.state.pgurl import check_url, display, is_postgres_url

if TYPE_CHECKING:
    from runner.state.postgres import PostgresAuditLog

EXTRA_HINT = "install the extra: pip install 'ftjanitor[postgres]'"


def _location(ref: StateRef) -> str | Path:
    """The checked URL of a PostgreSQL state, or the path of a SQLite file."""
    if ref.url is None:
        if ref.path is None:
            raise ConfigError("state: neither a file nor a postgresql:// URL")
        return ref.path
    check_url(ref.url)
    return ref.url


def _require_psycopg(url: str) -> None:
    try:
        import psycopg  # noqa: F401  (imported here only to say what is missing)
    except ImportError as error:
        reason = str(error).splitlines()[0] if str(error) else "not installed"
        raise ConfigError(
            f"state: {display(url)} needs psycopg 3 ({reason}); {EXTRA_HINT}"
        ) from None


def open_state(ref: StateRef) -> StateStore:
    """A SqliteState for a path, a PostgresState for a postgresql:// URL.

    ConfigError for a URL holding a password or a missing psycopg; StorageError (one line
    naming the file or server) when the store cannot be opened.
    """
    url = _location(ref)
    if isinstance(url, Path):
        from runner.state.sqlite import SqliteState

        return SqliteState(url)
    _require_psycopg(url)
    from runner.state.postgres import PostgresState

    return PostgresState(url)


def open_audit_chain(
    ref: StateRef, secrets: Iterable[str] = (), clock: Clock = system_clock
) -> "PostgresAuditLog":
    """The audit chain kept in the state database, for ``audit_log: state``."""
    url = _location(ref)
    if isinstance(url, Path):
        raise ConfigError(
            f"audit_log: state keeps the audit chain in a PostgreSQL state, and state: is the"
            f" SQLite file {ref.path}; give audit_log a file path or state a postgresql:// URL"
        )
    _require_psycopg(url)
    from runner.state.postgres import PostgresAuditLog

    return PostgresAuditLog(url, secrets, clock)


__all__ = ["is_postgres_url", "open_audit_chain", "open_state"]
