"""Opening what a run needs from providers: listers for the (connection, kind) pairs it uses."""

from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack

from runner.jobfile.model import Connection, JobFile, Target
from runner.providers import REGISTRY
from runner.providers.base import ConnectOptions, Lister
from runner.ref import DEFAULT_KIND

# What a lister, an inventory, a kind's facts and a deleter are keyed by.
Listed = tuple[str, str]  # (connection name, kind)


def connections_used(job_file: JobFile, jobs: Iterable[str] | None = None) -> list[Connection]:
    """The connections the selected jobs' targets use, in declaration order."""
    used = kinds_used(job_file, jobs)
    return [c for name, c in job_file.connections.items() if name in used]


def kinds_used(job_file: JobFile, jobs: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Each connection the selected jobs use, with the kinds their targets need listed
    there (in target order): only those kinds are listed."""
    wanted = None if jobs is None else set(jobs)  # an empty list selects nothing
    used: dict[str, list[str]] = {}
    for job in job_file.jobs:
        if wanted is None or job.name in wanted:
            for target in job.targets:
                kinds = used.setdefault(target.connection, [])
                for _, kind in listings_of(job_file, target):
                    if kind not in kinds:
                        kinds.append(kind)
    return used


def listings_of(job_file: JobFile, target: Target) -> list[Listed]:
    """What planning a target reads: its own kind's listing and, for a model target, the
    listings of the kinds hosting models on its connection (whether a deployment serves
    a model decides whether it can go)."""
    own = (target.connection, target.kind)
    if target.kind != DEFAULT_KIND:
        return [own]
    spec = REGISTRY[job_file.connections[target.connection].type]
    return [own, *((target.connection, kind) for kind in spec.hosting_kinds())]


def open_listers(
    connections: list[Connection],
    kinds: Mapping[str, Sequence[str]],
    options: ConnectOptions,
    keys: Mapping[str, str | None],
    stack: ExitStack,
) -> dict[Listed, Lister]:
    """Connect every connection once (keys were checked before) and make a lister for
    each kind ``kinds`` names on it. A kind's lister borrows the connection's session,
    so the session alone is closed, with the stack."""
    listers: dict[Listed, Lister] = {}
    for connection in connections:
        spec = REGISTRY[connection.type]
        session = spec.connect(connection, keys[connection.name], options)
        stack.callback(session.close)
        for kind in kinds.get(connection.name, ()):
            listers[connection.name, kind] = spec.kinds[kind].lister(session)
    return listers
