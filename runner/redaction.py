"""Keys never leave the process: every text that could carry one passes through here."""

from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET = 6  # a value this short inside a text is a coincidence ("ok"), not a leak


def secret_list(values: Iterable[str]) -> list[str]:
    """Longest first, so a key that contains another is replaced whole."""
    return sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """Replace every secret inside strings, recursively through dicts and lists."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value
