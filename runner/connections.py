"""Opening what a command needs: keys from the environment, then provider connections."""

import os
from collections.abc import Iterable, Mapping

from runner.credentials import resolve_keys
from runner.jobfile.model import Connection, JobFile
from runner.providers import connect
from runner.providers.base import Provider
from runner.providers.http import RetryPolicy


def connections_used(job_file: JobFile, jobs: Iterable[str] | None = None) -> list[Connection]:
    """The connections the selected jobs' targets use, in declaration order."""
    wanted = None if jobs is None else set(jobs)  # an empty list selects nothing
    names = {
        target.provider
        for job in job_file.jobs
        if wanted is None or job.name in wanted
        for target in job.targets
    }
    return [c for name, c in job_file.connections.items() if name in names]


def open_providers(
    connections: list[Connection],
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[dict[str, Provider], list[str]]:
    """Check every key first (exit 2 before any request), then connect.

    Returns the providers and the key values, which the audit log redacts.
    """
    keys = resolve_keys(connections, os.environ if environ is None else environ)
    providers = {c.name: connect(c, keys[c.name], policy) for c in connections}
    return providers, list(keys.values())
