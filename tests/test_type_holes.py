"""The type holes an outside review found stay closed: no runtime ``assert`` guards, no
counts set by name, no ``Any`` where a real type exists, outcomes as literals."""

import ast
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from runner import events as ev
from runner.engine import RunOptions
from runner.providers.base import ConnectOptions, DeleteOutcome

RUNNER = Path(__file__).resolve().parent.parent / "runner"
SOURCES = sorted(RUNNER.rglob("*.py"))


def _calls(tree: ast.AST, name: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(RUNNER)))
def test_no_assert_guards_and_no_setattr_by_name(path: Path) -> None:
    # python -O strips asserts: a guard must be a check that raises our own error, or a
    # type that makes it unnecessary. setattr by name hides a typo from mypy.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert asserts == [], f"{path.name}: assert at lines {asserts}"
    assert _calls(tree, "setattr") == [], f"{path.name}: setattr by name"


@pytest.mark.parametrize("cls", [ConnectOptions, RunOptions, ev.Outcome, ev.Reconciled, ev.Counts])
def test_options_and_events_hold_no_any(cls: type) -> None:
    loose = [f.name for f in fields(cls) if f.type is typing.Any or f.type == "Any"]
    assert loose == []


def test_outcomes_are_the_delete_literal_and_each_is_counted() -> None:
    assert {f.name: f.type for f in fields(ev.Outcome)}["result"] == DeleteOutcome
    for outcome in typing.get_args(DeleteOutcome):
        counts = ev.Counts()
        counts.settled(outcome)
        assert getattr(counts, outcome) == 1
        assert sum(getattr(counts, f.name) for f in fields(counts)) == 1
