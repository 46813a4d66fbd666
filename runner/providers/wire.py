"""Wire-level helpers shared by providers; pure (no HTTP library imported here)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from runner.providers.base import ProviderError, unsafe_id_reason


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str  # first bytes of the body, for error messages
    attempts: int
    headers: Mapping[str, str]


def path_segment(model_id: str) -> str:
    """Percent-encode an ID for a URL path; unsafe IDs never get this far."""
    if reason := unsafe_id_reason(model_id):
        raise ValueError(f"refusing ID {model_id!r}: {reason}")
    return quote(model_id, safe="")


def error_message(response: Response) -> str:
    """The provider's own words from any of the error shapes we know, one line."""
    body = response.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return one_line(value)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return one_line(value["message"])
            if isinstance(value, list) and value:
                parts = [
                    str(item.get("msg")) if isinstance(item, dict) else str(item)
                    for item in value[:3]
                ]
                return one_line("; ".join(parts))
    return one_line(response.text) or f"HTTP {response.status}"


def one_line(text: str) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= 200 else text[:197] + "..."


def failure(label: str, what: str, response: Response) -> ProviderError:
    """A call that must succeed did not: one line naming the connection, call and answer."""
    return ProviderError(
        f"{label}: {what} answered HTTP {response.status}: {error_message(response)}",
        auth=response.status in (401, 403),
    )
