"""The usage-source registry: every module of this package registers its source on import.

A kind names its source in ``KindSpec.usage``; the engine reads it once per connection and
run, and the planner gets what it saw as data (``runner.rules.plan_job(usage=...)``). A
new source is one module here (plus its tests). Importing this package imports no HTTP or
vendor library.
"""

from runner.discovery import plugins
from runner.usage.base import (
    REGISTRY,
    USAGE_UNKNOWN,
    LastUse,
    Seen,
    Unknown,
    Usage,
    UsageSource,
    UsageUnknown,
    register,
)

__all__ = [
    "REGISTRY",
    "USAGE_UNKNOWN",
    "LastUse",
    "Seen",
    "Unknown",
    "Usage",
    "UsageSource",
    "UsageUnknown",
    "register",
]

# Found as providers and wires are (runner.discovery); importing a module registers it.
LOADED = tuple(plugins(__name__, __path__, shared=("base",)))
