"""Opening what a run needs from providers: listers for the (connection, kind) pairs it uses."""

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
) -> Mapping[Listed, Lister]:
    """Connect every connection once (keys were checked before) and make a lister for
    each kind ``kinds`` names on it. A kind's lister borrows the connection's session,
    so the session alone is closed, with the stack.

    The connects run at once in the background: a slow one (Bedrock's botocore client takes
    a tenth of a second to build) overlaps the other connections' listing. Asking for a
    lister waits for its own connection, and a connect's error is raised to whoever asks,
    as it would have been raised here."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(connections)), thread_name_prefix="connect")
    sessions = {
        c.name: pool.submit(REGISTRY[c.type].connect, c, keys[c.name], options) for c in connections
    }
    pool.shutdown(wait=False)
    stack.callback(_close_sessions, sessions.values())
    types = {c.name: c.type for c in connections}
    wanted = [(c.name, kind) for c in connections for kind in kinds.get(c.name, ())]
    return _Listers(sessions, types, wanted)


class _Listers(Mapping[Listed, Lister]):
    """The listers of the connections being opened, each made when first asked for."""

    def __init__(
        self,
        sessions: Mapping[str, "Future[Lister]"],
        types: Mapping[str, str],
        wanted: list[Listed],
    ):
        self._sessions, self._types, self._wanted = sessions, types, wanted
        self._made: dict[Listed, Lister] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: Listed) -> Lister:
        if key not in self._wanted:
            raise KeyError(key)
        session = self._sessions[key[0]].result()  # waits; raises what the connect raised
        with self._lock:
            if key not in self._made:
                self._made[key] = REGISTRY[self._types[key[0]]].kinds[key[1]].lister(session)
            return self._made[key]

    def __iter__(self) -> Iterator[Listed]:
        return iter(self._wanted)

    def __len__(self) -> int:
        return len(self._wanted)


def _close_sessions(sessions: Iterable["Future[Lister]"]) -> None:
    """Every session that opened, closed (waiting for connects still under way)."""
    for future in sessions:
        try:
            session = future.result()
        except Exception:
            continue
        session.close()
