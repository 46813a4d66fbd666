"""Providers and simulator wires are found by listing their packages: a new one is new files."""

import importlib
import sys
from pathlib import Path

import pytest

import runner.providers
import runner.simulator
from runner.discovery import plugins
from runner.providers import REGISTRY, SHARED, registry


def test_plugins_are_the_public_modules_in_name_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "plugpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("zeta", "alpha", "shared", "_private"):
        (package / f"{name}.py").write_text(f"NAME = {name!r}\n")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = list(plugins("plugpkg", [str(package)], ("shared",)))
    assert [m.NAME for m in found] == ["alpha", "zeta"]
    assert "plugpkg.shared" not in sys.modules and "plugpkg._private" not in sys.modules


def test_every_provider_module_is_registered_and_every_wire_is_served() -> None:
    folder = Path(runner.providers.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")} - set(SHARED)
    types = {
        m for m in modules if hasattr(importlib.import_module(f"runner.providers.{m}"), "SPEC")
    }
    assert set(REGISTRY) == types
    # Every other module is one more kind of a type, and is in that type's kinds.
    for name in modules - types:
        kind = importlib.import_module(f"runner.providers.{name}").KIND
        assert REGISTRY[kind.type].kinds[kind.kind] is kind
    wires = {m.__name__.rpartition(".")[2] for m in runner.simulator.WIRES}
    assert wires == set(runner.simulator.REGISTRY)
    # Every HTTP provider has a simulator wire module of its own name.
    assert set(REGISTRY) <= wires


# -- discovery: a KIND module adds a kind, with no edit --------------------------------------


KIND_MODULE = """
import dataclasses
from runner.providers.cohere import MODEL

KIND = dataclasses.replace(MODEL, kind="gadget", listed="gadgets", deleted="the gadget")
"""


def test_a_kind_module_in_the_providers_package_adds_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cohere_gadget.py").write_text(KIND_MODULE)
    monkeypatch.setattr(runner.providers, "__path__", [*runner.providers.__path__, str(tmp_path)])
    try:
        found = registry(plugins("runner.providers", runner.providers.__path__, SHARED))
    finally:
        sys.modules.pop("runner.providers.cohere_gadget", None)
    assert found["cohere"].kind_order()[0] == "model"
    assert set(found["cohere"].kinds) == {*REGISTRY["cohere"].kinds, "gadget"}
    assert found["cohere"].kinds["gadget"].listed == "gadgets"
    assert found["cohere"].kinds["model"] is REGISTRY["cohere"].kinds["model"]
    assert set(found) == set(REGISTRY)  # a kind is no type


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("X = 1\n", "must expose exactly one of SPEC or KIND"),
        (KIND_MODULE.replace('kind="gadget"', 'kind="model"'), "cohere already has kind 'model'"),
        (KIND_MODULE.replace('kind="gadget"', 'kind="gadget", type="nope"'), "names type 'nope'"),
    ],
    ids=["neither", "twice", "no-such-type"],
)
def test_a_broken_kind_module_is_refused_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, why: str
) -> None:
    (tmp_path / "cohere_gadget.py").write_text(source)
    monkeypatch.setattr(runner.providers, "__path__", [*runner.providers.__path__, str(tmp_path)])
    try:
        with pytest.raises(ImportError, match=why):
            registry(plugins("runner.providers", runner.providers.__path__, SHARED))
    finally:
        sys.modules.pop("runner.providers.cohere_gadget", None)
