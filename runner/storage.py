"""Opening the state store and the audit chain a job file names, in that order."""

from collections.abc import Iterable
from contextlib import ExitStack

from runner.audit import AuditChain, AuditLog, head_problem
from runner.clock import Clock, system_clock
from runner.errors import ConfigError
from runner.jobfile.model import JobFile
from runner.state import StateStore
from runner.state.accounts import AccountKeyed
from runner.state.open import open_audit_chain, open_state


def open_storage(
    job_file: JobFile, secrets: Iterable[str], clock: Clock, stack: ExitStack
) -> tuple[StateStore, AuditChain]:
    """Both are closed by ``stack``; a broken one raises StorageError naming its path."""
    store = open_state(job_file.state)
    stack.callback(store.close)
    state = AccountKeyed(store, job_file.connections.values())
    chain: AuditChain
    if job_file.audit_log is None:
        chain = open_audit_chain(job_file.state, secrets, clock)
    else:
        chain = AuditLog(job_file.audit_log, secrets, clock)
    stack.callback(chain.close)
    return state, chain


def open_anchored(
    job_file: JobFile, source: str, stack: ExitStack
) -> tuple[StateStore, AuditChain, str | None]:
    """For reading a job file's audit (``audit``, ``report``): the state, the chain, and
    why the chain no longer holds the head the state remembers (None when it does). A log
    file that does not exist is refused rather than created empty."""
    log = job_file.audit_log
    if log is not None and not log.is_file():
        problem = "is not a regular file" if log.exists() else "no such audit log"
        raise ConfigError(f"{log}: {problem} (from {source})")
    state, chain = open_storage(job_file, (), system_clock, stack)
    return state, chain, head_problem(chain, state.audit_head(chain.name))
