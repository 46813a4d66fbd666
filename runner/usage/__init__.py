"""The usage-source registry: every module of this package registers its source on import.

A kind names its source in ``KindSpec.usage``; the engine reads it once per connection and
run, and the planner gets what it saw as data (``runner.rules.plan_job(usage=...)``). A
new source is one module here (plus its tests). Importing this package imports no HTTP or
vendor library.
"""

import importlib
import pkgutil

from runner.usage.base import REGISTRY, Seen, Unknown, Usage, UsageSource, UsageUnknown, register

__all__ = ["REGISTRY", "Seen", "Unknown", "Usage", "UsageSource", "UsageUnknown", "register"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
