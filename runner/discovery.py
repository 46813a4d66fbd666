"""Finding a package's plug-in modules by listing it, so a new provider is new files only.

Only the names are listed (``pkgutil`` reads the folder); each plug-in module is then
imported, and the package's shared modules, named by the package, never are: they may
load an HTTP library that ``validate`` must not pay for.
"""

import importlib
import pkgutil
from collections.abc import Collection, Iterator
from types import ModuleType


def plugins(package: str, path: list[str], shared: Collection[str]) -> Iterator[ModuleType]:
    """Every module of ``package`` (its ``__path__``) except ``shared`` and private ones,
    imported, in name order so that registries and generated files are stable."""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(path)
        if not info.ispkg and not info.name.startswith("_") and info.name not in shared
    )
    for name in names:
        yield importlib.import_module(f"{package}.{name}")
