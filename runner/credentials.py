"""API keys come from the environment only, and are checked before any request."""

import re
from collections.abc import Iterable, Mapping

from runner.errors import ConfigError
from runner.jobfile.model import Connection, Job, JobFile
from runner.providers import REGISTRY
from runner.usage import REGISTRY as USAGE

# Whitespace or control characters inside a key would reach HTTP headers (and from
# there exception texts); such a value is refused before use, and never shown.
_BAD_KEY = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\ufeff]")


def is_malformed(secret: str) -> bool:
    """True when ``secret`` holds whitespace or control characters (API or plan keys)."""
    return _BAD_KEY.search(secret) is not None


def resolve_keys(
    connections: Iterable[Connection], environ: Mapping[str, str]
) -> dict[str, str | None]:
    """Connection name -> key (None for types with their own credential chain).

    Names every missing or malformed variable at once (exit 2), never a value."""
    keys: dict[str, str | None] = {}
    missing: list[str] = []
    malformed: list[str] = []
    others: list[str] = []
    for connection in connections:
        extra = REGISTRY[connection.type].extra_credential
        if extra is not None and (problem := extra.check(connection, environ)):
            others.append(problem)
        if REGISTRY[connection.type].credential != "api_key" or connection.api_key_env is None:
            keys[connection.name] = None
            continue
        name = connection.api_key_env
        value = environ.get(name, "")
        if not value:
            missing.append(f"{name} (for {connection.name})")
        elif is_malformed(value):
            malformed.append(f"{name} (for {connection.name})")
        else:
            keys[connection.name] = value
    problems = []
    if missing:
        problems.append("missing API key: set " + ", ".join(missing) + " in the environment")
    if malformed:
        problems.append(
            "malformed API key: " + ", ".join(malformed) + " holds whitespace or control"
            " characters (value not shown)"
        )
    problems += others
    if problems:
        raise ConfigError("; ".join(problems) + "; nothing was sent")
    return keys


def resolve_usage_keys(
    job_file: JobFile, jobs: Iterable[Job], environ: Mapping[str, str]
) -> dict[str, str]:
    """Connection name -> the key its usage source reads with (OpenAI's admin key), for
    each connection where one of ``jobs`` has an unused_for rule on a kind whose source
    needs a key of its own. Checked like any key: missing or malformed stops the run
    before any request (exit 2), naming the variable, never its value."""
    keys: dict[str, str] = {}
    missing: list[str] = []
    malformed: list[str] = []
    for target in (t for job in jobs for t in job.targets if t.unused_for is not None):
        connection = job_file.connections[target.connection]
        source = REGISTRY[connection.type].kinds[target.kind].usage
        field = USAGE[source].key_field if source is not None else None
        name = connection.options.get(field) if field is not None else None
        if not isinstance(name, str) or connection.name in keys:
            continue
        value = environ.get(name, "")
        said = f"{name} (for {connection.name}: its {field}, the key unused_for reads usage with)"
        if not value:
            missing.append(said)
        elif is_malformed(value):
            malformed.append(said)
        else:
            keys[connection.name] = value
    problems = []
    if missing:
        problems.append("missing usage key: set " + ", ".join(dict.fromkeys(missing)))
    if malformed:
        problems.append(
            "malformed usage key: " + ", ".join(dict.fromkeys(malformed)) + " holds whitespace"
            " or control characters (value not shown)"
        )
    if problems:
        raise ConfigError("; ".join(problems) + "; nothing was sent")
    return keys
