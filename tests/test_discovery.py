"""Providers and simulator wires are found by listing their packages: a new one is new files."""

import sys
from importlib import import_module
from pathlib import Path

import pytest

import runner.providers
import runner.simulator
from runner.discovery import plugins
from runner.providers import REGISTRY, SHARED


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
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    # A module exposing KIND is another kind of a type (together_deployment), not a type.
    kinds = {m for m in modules if hasattr(import_module(f"runner.providers.{m}"), "KIND")}
    assert {k.split("_")[0] for k in kinds} <= set(REGISTRY)
    assert set(REGISTRY) == modules - set(SHARED) - kinds
    wires = {m.__name__.rpartition(".")[2] for m in runner.simulator.WIRES}
    assert wires == set(runner.simulator.REGISTRY)
    # Every HTTP provider has a simulator wire module of its own name.
    assert set(REGISTRY) <= wires
