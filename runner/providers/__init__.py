"""Provider registry: every module of this package that is not shared machinery is one
provider type, exposing ``SPEC``, or one more kind of a type, exposing ``KIND`` (a
``KindSpec`` whose ``type`` names the provider it belongs to).

A new provider is a new module here (plus its simulator wire module), and a new kind of
an existing one (``together_deployment.py``) is a new module too: nothing to edit.
Importing this package imports no HTTP or vendor library, which keeps ``validate`` fast
and lets it run where boto3 is not installed.
"""

import dataclasses
from collections.abc import Iterable
from types import ModuleType

from runner.discovery import plugins
from runner.providers.base import KindSpec, ProviderSpec
from runner.ref import DEFAULT_KIND

# The shared machinery every provider builds on; ``http`` loads requests.
SHARED = ("base", "hosting", "http", "mapping", "table", "wire")


def registry(modules: Iterable[ModuleType]) -> dict[str, ProviderSpec]:
    """Each type's spec with every kind that declares it: its own and the ``KIND``
    modules'. A module that is neither, a kind of no type, or a kind declared twice is a
    mistake in this package, refused at import rather than silently left out."""
    specs: dict[str, ProviderSpec] = {}
    extra: list[tuple[str, KindSpec]] = []
    for module in modules:
        spec: ProviderSpec | None = getattr(module, "SPEC", None)
        kind: KindSpec | None = getattr(module, "KIND", None)
        if (spec is None) == (kind is None):
            raise ImportError(f"{module.__name__} must expose exactly one of SPEC or KIND")
        if spec is not None:
            _own_kinds(module.__name__, spec)
            specs[spec.type] = spec
        elif kind is not None:
            extra.append((module.__name__, kind))
    for name, kind in extra:
        owner = specs.get(kind.type)
        if owner is None:
            raise ImportError(f"{name}: KIND names type {kind.type!r}, which no module declares")
        if kind.kind in owner.kinds:
            raise ImportError(f"{name}: {kind.type} already has kind {kind.kind!r}")
        specs[kind.type] = dataclasses.replace(owner, kinds={**owner.kinds, kind.kind: kind})
    return specs


def _own_kinds(name: str, spec: ProviderSpec) -> None:
    if DEFAULT_KIND not in spec.kinds:
        raise ImportError(f"{name}: {spec.type} declares no model kind")
    for key, kind in spec.kinds.items():
        if (kind.type, kind.kind) != (spec.type, key):
            raise ImportError(f"{name}: kinds[{key!r}] is {kind.type}'s {kind.kind!r}")


REGISTRY: dict[str, ProviderSpec] = registry(plugins(__name__, __path__, SHARED))
