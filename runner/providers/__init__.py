"""Provider registry: every module of this package that is not shared machinery is one
provider type and exposes ``SPEC``.

A new provider is a new module here (plus its simulator wire module): nothing to edit.
Importing this package imports no HTTP or vendor library, which keeps ``validate`` fast
and lets it run where boto3 is not installed.
"""

from runner.discovery import plugins
from runner.providers.base import ProviderSpec

# The shared machinery every provider builds on; ``http`` loads requests.
SHARED = ("base", "hosting", "http", "table", "wire")

# A module exposing ``KIND`` is another kind of a type (``together_deployment``), not a type.
REGISTRY: dict[str, ProviderSpec] = {
    module.SPEC.type: module.SPEC
    for module in plugins(__name__, __path__, SHARED)
    if not hasattr(module, "KIND")
}
