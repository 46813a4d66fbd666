"""Provider registry: a type name maps to one module's ProviderSpec.

Adding a provider is one module exposing ``SPEC`` plus an entry here. Importing this
package does not import ``requests``, which keeps ``validate`` fast.
"""

from typing import TYPE_CHECKING

from runner.providers import bfl, cohere
from runner.providers.base import Provider, ProviderSpec

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import RetryPolicy

REGISTRY: dict[str, ProviderSpec] = {spec.type: spec for spec in (cohere.SPEC, bfl.SPEC)}


def connect(
    connection: "Connection", api_key: str, policy: "RetryPolicy | None" = None
) -> Provider:
    # Imported on first connection, not at package import: validation never needs HTTP.
    from runner.providers.http import HttpClient, RetryPolicy

    spec = REGISTRY[connection.type]
    client = HttpClient(
        connection.base_url,
        spec.auth_header(api_key),
        requests_per_minute=connection.requests_per_minute,
        concurrency=connection.concurrency,
        policy=policy or RetryPolicy(),
        label=f"{connection.name} ({connection.base_url})",
    )
    return spec.factory(client)
