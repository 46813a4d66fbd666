"""Opening what a run needs from providers: listers for the connections it uses."""

from collections.abc import Iterable, Mapping
from contextlib import ExitStack

from runner.jobfile.model import Connection, JobFile
from runner.providers import REGISTRY
from runner.providers.base import ConnectOptions, Lister


def connections_used(job_file: JobFile, jobs: Iterable[str] | None = None) -> list[Connection]:
    """The connections the selected jobs' targets use, in declaration order."""
    wanted = None if jobs is None else set(jobs)  # an empty list selects nothing
    names = {
        target.connection
        for job in job_file.jobs
        if wanted is None or job.name in wanted
        for target in job.targets
    }
    return [c for name, c in job_file.connections.items() if name in names]


def open_listers(
    connections: list[Connection],
    options: ConnectOptions,
    keys: Mapping[str, str | None],
    stack: ExitStack,
) -> dict[str, Lister]:
    """Connect every connection (keys were checked before); closed with the stack."""
    listers = {}
    for connection in connections:
        lister = REGISTRY[connection.type].connect(connection, keys[connection.name], options)
        stack.callback(lister.close)
        listers[connection.name] = lister
    return listers
