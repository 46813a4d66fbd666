"""API keys come from the environment only, and are checked before any request."""

from collections.abc import Iterable, Mapping

from runner.errors import CommandError
from runner.jobfile.model import Connection


def resolve_keys(connections: Iterable[Connection], environ: Mapping[str, str]) -> dict[str, str]:
    """Connection name -> key. Names every missing variable at once (exit 2)."""
    keys: dict[str, str] = {}
    missing: list[str] = []
    for connection in connections:
        value = environ.get(connection.api_key_env, "").strip()
        if value:
            keys[connection.name] = value
        else:
            missing.append(f"{connection.api_key_env} (for {connection.name})")
    if missing:
        raise CommandError(
            "missing API key: set " + ", ".join(missing) + " in the environment; nothing was sent"
        )
    return keys
