"""Provider registry: a type name maps to one module's ProviderSpec.

Adding a provider is one module exposing ``SPEC`` (plus its simulator module) and a line
here. Importing this package imports no HTTP or vendor library, which keeps ``validate``
fast and lets it run where boto3 is not installed.
"""

from runner.providers import bedrock, bfl, cohere, fireworks, mistral, openai, together
from runner.providers.base import ProviderSpec

REGISTRY: dict[str, ProviderSpec] = {
    spec.type: spec
    for spec in (
        cohere.SPEC,
        bfl.SPEC,
        openai.SPEC,
        mistral.SPEC,
        together.SPEC,
        fireworks.SPEC,
        bedrock.SPEC,
    )
}
