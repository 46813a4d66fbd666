"""Every provider type's contract fixture (tests/test_provider_contract.py), found by
listing tests/cases/: a new type is tested by adding ``tests/cases/<type>.py``; what only
one provider does stays in its own test file."""

from collections.abc import Iterable
from types import ModuleType

import tests.cases
from runner.discovery import plugins
from tests.cases import ProviderCase, Selection


def gathered(modules: Iterable[ModuleType]) -> tuple[tuple[ProviderCase, ...], dict[str, str]]:
    """The cases, and the types kept elsewhere with the reason. A module named for its type
    exposes exactly one of ``CASE`` or ``ELSEWHERE``: anything else would silently test
    nothing, so it is refused."""
    cases: list[ProviderCase] = []
    elsewhere: dict[str, str] = {}
    for module in modules:
        name = module.__name__.rpartition(".")[2]
        case: ProviderCase | None = getattr(module, "CASE", None)
        reason: str | None = getattr(module, "ELSEWHERE", None)
        if (case is None) == (reason is None):
            raise ImportError(f"{module.__name__} must expose exactly one of CASE or ELSEWHERE")
        if case is not None and case.kind != name:
            raise ImportError(f"{module.__name__}: its CASE is {case.kind!r}'s, not {name!r}'s")
        if case is not None:
            cases.append(case)
        elif reason is not None:
            elsewhere[name] = reason
    return tuple(cases), elsewhere


CASES, ELSEWHERE = gathered(plugins(tests.cases.__name__, tests.cases.__path__, ()))

__all__ = ["CASES", "ELSEWHERE", "ProviderCase", "Selection", "gathered"]
