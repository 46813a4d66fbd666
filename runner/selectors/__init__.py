"""The selector registry: every module of this package registers its rule on import.

A new rule is one module here (plus its tests): the job schema, the validator, the
planner and the plan's target lines find it through ``REGISTRY``. Importing this package
imports no HTTP or vendor library.
"""

from runner.discovery import plugins
from runner.selectors.base import REGISTRY, Field, Selector, Verdict, register

__all__ = ["REGISTRY", "Field", "Selector", "Verdict", "register"]

# Found as providers and wires are (runner.discovery); importing a module registers it.
LOADED = tuple(plugins(__name__, __path__, shared=("base",)))
