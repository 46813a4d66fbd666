"""The selector registry: every module of this package registers its rule on import.

A new rule is one module here (plus its tests): the job schema, the validator, the
planner and the plan's target lines find it through ``REGISTRY``. Importing this package
imports no HTTP or vendor library.
"""

import importlib
import pkgutil

from runner.selectors.base import REGISTRY, Field, Selector, Verdict, register

__all__ = ["REGISTRY", "Field", "Selector", "Verdict", "register"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
