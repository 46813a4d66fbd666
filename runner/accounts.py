"""The stable key a connection's state (first sightings, marks, intents) is kept under.

A connection's name is a label people rename; the key says which account it reaches:
the type, the host, the type's own account fields (``ProviderSpec.account_fields``:
Fireworks ``account_id``, Bedrock's region and credentials, Azure's endpoint and ARM
scope; a URL among them as its host, however it is written) and the connection's explicit
``account:`` name when it has one. A type with neither (one key per account, same
host) cannot tell two accounts apart, so its key keeps the connection's name, and
``account:`` is how such a connection keeps its state through a rename. Never anything
derived from a secret.

Keys always hold ``:``, which no connection name can: a state row keyed by a bare name
was written before keys existed, and is moved to its connection's key when a job file
naming that connection opens the state (``StateStore.adopt``).
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from runner.providers.base import ProviderSpec


def account_key(
    spec: ProviderSpec,
    name: str,
    base_url: str | None,
    options: Mapping[str, Any],
    explicit: str | None,
) -> str:
    host = _host(base_url)
    named = [f"account={explicit}"] if explicit is not None else []
    if spec.account_fields:
        # The name beside the fields, not instead of them: a type whose own ARM field is
        # called account (Azure) keys by subscription, group and account together.
        parts = [f"{f}={_value(spec, f, options.get(f))}" for f in spec.account_fields] + named
    else:
        parts = named or [f"connection={name}"]
    return f"{spec.type}:{host}:{','.join(parts)}"


def reach(
    spec: ProviderSpec, base_url: str | None, options: Mapping[str, Any], api_key_env: str | None
) -> str:
    """What a connection lists, whatever ``account:`` name it gives: its host and account
    fields, or for a type without them the variable its key is read from (one key, one
    account). Two connections with one reach list the same items under two names, each
    planned and limited twice."""
    if spec.account_fields:
        return account_key(spec, "", base_url, options, None)
    return f"{spec.type}:{_host(base_url)}:key_env={api_key_env or ''}"


def _value(spec: ProviderSpec, field: str, value: Any) -> str:
    if value and spec.connection_fields.get(field, {}).get("format") == "uri":
        return _host(str(value))  # one account however its URL is written
    return str(value or "")


def _host(base_url: str | None) -> str:
    if not base_url:
        return "-"
    url = urlsplit(base_url)
    host = url.netloc.lower()
    if url.port is not None and url.port == _DEFAULT_PORTS.get(url.scheme.lower()):
        host = host.rsplit(":", 1)[0]  # https://h:443 is https://h: one account, one key
    return f"{host}{url.path.rstrip('/')}"


_DEFAULT_PORTS = {"https": 443, "http": 80}


def is_key(stored: str) -> bool:
    """Whether a stored key is an account key, not a connection name written before."""
    return ":" in stored
