"""Opening the state store and the audit chain a job file names, in that order."""

from collections.abc import Iterable
from contextlib import ExitStack

from runner.audit import AuditChain, AuditLog
from runner.clock import Clock
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
