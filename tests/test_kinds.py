"""Kinds: every type's kinds keep their contract, a target's kind is one its type has, a
KIND module adds a kind, and a job lists each (connection, kind) it uses once."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import runner.jobfile.schema as schema_module
import runner.jobfile.validate as validate_module
from runner.providers import REGISTRY
from runner.providers.base import DeleteAnswer, DeleteResult, KindSpec, ModelRecord
from runner.providers.cohere import MODEL as COHERE_MODEL
from runner.providers.cohere import CohereDeleter, CohereLister
from runner.simulator import Simulator
from tests.conftest import COHERE_KEY
from tests.helpers import TEST_PACE, cli, job_yaml, one_job, plan_decisions, run_now, write_job

URL = "https://example.com"  # validation sends nothing
EVERY_KIND = sorted((t, k) for t, spec in REGISTRY.items() for k in spec.kinds)


# -- the registry's contract, for every (type, kind) ----------------------------------------


@pytest.mark.parametrize(("type_", "kind"), EVERY_KIND)
def test_every_kind_declares_consistent_facts(type_: str, kind: str) -> None:
    facts = REGISTRY[type_].kinds[kind]
    assert (facts.type, facts.kind) == (type_, kind)
    assert facts.listed and facts.deleted and facts.name_source and facts.not_found_proof
    assert callable(facts.lister) and callable(facts.deleter)
    assert isinstance(facts.delete_answer, DeleteAnswer)
    # Busy, failed and gone words are statuses the kind declares, and no word is two.
    classes = (facts.in_progress, facts.failed, facts.gone)
    assert all(words <= set(facts.statuses) for words in classes)
    assert sum(len(words) for words in classes) == len(set().union(*classes))
    assert len(set(facts.statuses)) == len(facts.statuses)
    assert set(facts.depends_on) <= set(REGISTRY[type_].kinds) - {kind}
    assert not (facts.has_created_at and facts.details_for_age)  # details stand in for it


@pytest.mark.parametrize(("type_", "kind"), EVERY_KIND)
def test_every_kind_maps_its_statuses_to_a_lifecycle(type_: str, kind: str) -> None:
    facts = REGISTRY[type_].kinds[kind]
    for word in facts.statuses:
        expected = (
            "deleted"
            if word in facts.gone
            else "in_progress"
            if word in facts.in_progress
            else "failed"
            if word in facts.failed
            else "ready"
        )
        assert facts.lifecycle(word) == expected
    assert facts.lifecycle(None) == "ready"  # no word is nothing to misread
    assert facts.lifecycle("A_WORD_ADDED_LATER") == ("unknown" if facts.statuses else "ready")


@pytest.mark.parametrize(("type_", "kind"), EVERY_KIND)
def test_every_kind_has_an_id_rule_that_refuses_unsafe_ids(type_: str, kind: str) -> None:
    rule = REGISTRY[type_].kinds[kind].id_rule
    for unsafe in ("", "a/b", "a/../b", "a b", "a\x1bb", "x" * 300):
        assert rule(unsafe) is not None, repr(unsafe)


def test_every_type_has_the_model_kind_and_names_it_first() -> None:
    for spec in REGISTRY.values():
        assert spec.kind_order()[0] == "model"
        assert spec.kind_names() == ", ".join(spec.kind_order())


# -- a throwaway kind, registered for a test -------------------------------------------------


class WidgetLister:
    """Cohere's models seen as widgets ``w-<id>``: a kind whose lister is built from the
    connection's session (the model lister), as every kind but ``model`` is."""

    listings = 0

    def __init__(self, session: CohereLister):
        self.session = session
        self.spec: KindSpec = REGISTRY["cohere"].kinds["widget"]

    def list_models(self) -> Iterator[ModelRecord]:
        WidgetLister.listings += 1
        for record in self.session.list_models():
            yield dataclasses.replace(record, id=f"w-{record.id}")

    def exists(self, model_id: str) -> bool:
        return self.session.exists(model_id.removeprefix("w-"))

    def details(self, model_id: str) -> dict[str, Any]:
        return self.session.details(model_id.removeprefix("w-"))

    def close(self) -> None:
        raise AssertionError("a kind's lister borrows the session: only the session is closed")


class WidgetDeleter:
    deleted: ClassVar[list[str]] = []

    def __init__(self, lister: WidgetLister):
        self.lister = lister
        self.inner = CohereDeleter(lister.session)

    def delete(self, model_id: str) -> DeleteResult:
        WidgetDeleter.deleted.append(model_id)
        return self.inner.delete(model_id.removeprefix("w-"))

    def exists(self, model_id: str) -> bool:
        return self.lister.exists(model_id)

    def close(self) -> None:
        self.inner.close()


WIDGET = dataclasses.replace(
    COHERE_MODEL,
    kind="widget",
    listed="widgets",
    deleted="the widget",
    lister=WidgetLister,
    deleter=WidgetDeleter,
)


def _forget_built_schema() -> None:
    schema_module.build_schema.cache_clear()
    validate_module._validator.cache_clear()


@pytest.fixture
def widget(monkeypatch: pytest.MonkeyPatch) -> Iterator[KindSpec]:
    spec = REGISTRY["cohere"]
    monkeypatch.setitem(
        REGISTRY, "cohere", dataclasses.replace(spec, kinds={**spec.kinds, "widget": WIDGET})
    )
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    WidgetLister.listings = 0
    WidgetDeleter.deleted = []
    _forget_built_schema()
    try:
        yield WIDGET
    finally:
        monkeypatch.undo()
        _forget_built_schema()


def cohere_job(tmp_path: Path, url: str, *targets: str) -> str:
    fields = {"type": "cohere", "base_url": url, "requests_per_minute": TEST_PACE}
    return write_job(tmp_path, job_yaml({"conn": fields}, one_job("j", list(targets))))


# -- a kind the type lacks is refused at its line ------------------------------------------


def test_a_kind_its_type_lacks_is_refused_at_its_line_with_the_kinds_it_has(
    tmp_path: Path, widget: KindSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {"type": "openai", "base_url": "https://example.com"}
    text = job_yaml(
        {"conn": fields}, one_job("j", ["{provider: conn, kind: widget, older_than: 1d}"])
    )
    path = write_job(tmp_path, text)
    code, out, err = cli(capsys, "validate", path)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "kind: widget" in row)
    kinds = REGISTRY["openai"].kind_names()
    assert code == 2 and "1 error" in out
    (message,) = err.strip().splitlines()
    assert message.startswith(f"{path}:{line}:")
    assert message.endswith(
        f"jobs[0].targets[0].kind: openai has no kind 'widget' (kinds: {kinds})"
    )
    # The type that has it accepts it, and the target carries it.
    ok = cohere_job(tmp_path, URL, "{provider: conn, kind: widget, older_than: 1d}")
    assert cli(capsys, "validate", ok)[0] == 0


def test_a_word_no_type_has_as_a_kind_is_refused_naming_the_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cohere_job(tmp_path, URL, "{provider: conn, kind: nonsense, older_than: 1d}")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and "jobs[0].targets[0].kind: 'nonsense' is not a resource kind (" in err
    assert "model" in err and "Traceback" not in err


def test_rules_are_checked_against_the_targets_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kind without statuses refuses a status rule, though its type's models have them.
    bare = dataclasses.replace(
        WIDGET, statuses=(), in_progress=frozenset(), failed=frozenset(), gone=frozenset()
    )
    spec = REGISTRY["cohere"]
    monkeypatch.setitem(
        REGISTRY, "cohere", dataclasses.replace(spec, kinds={**spec.kinds, "widget": bare})
    )
    _forget_built_schema()
    try:
        ok = cohere_job(tmp_path, URL, "{provider: conn, status: [STATUS_FAILED]}")
        assert cli(capsys, "validate", ok)[0] == 0
        path = cohere_job(tmp_path, URL, "{provider: conn, kind: widget, status: [STATUS_FAILED]}")
        code, _, err = cli(capsys, "validate", path)
        assert code == 2
        assert (
            "jobs[0].targets[0].status: cohere reports no status: a status rule could never match"
            in err
        )
    finally:
        monkeypatch.undo()
        _forget_built_schema()


# -- targets of two kinds on one connection ---------------------------------------------------


def _listings(sim: Simulator) -> int:
    return sum(
        1
        for r in sim.requests
        if r.method == "GET" and r.path.rstrip("/").endswith("finetuned-models")
    )


def test_two_kinds_on_one_connection_list_each_kind_once(
    tmp_path: Path, sim: Simulator, widget: KindSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = cohere_job(tmp_path, sim.url, "{provider: conn, ids: [sim-cohere-0006]}")
    plan_decisions(capsys, alone)
    one_kind = _listings(sim)
    assert one_kind >= 1 and WidgetLister.listings == 0  # a kind no target uses is not listed
    sim.requests.clear()
    both = cohere_job(
        tmp_path,
        sim.url,
        "{provider: conn, ids: [sim-cohere-0006]}",
        "{provider: conn, status: [STATUS_FAILED]}",
        "{provider: conn, kind: widget, ids: [w-sim-cohere-0007]}",
        "{provider: conn, kind: widget, older_than: 3000d}",
    )
    decisions = plan_decisions(capsys, both)
    assert _listings(sim) == 2 * one_kind and WidgetLister.listings == 1
    # Each target is planned against its own kind's listing.
    assert decisions["sim-cohere-0006"]["decision"] == "delete"
    assert decisions["w-sim-cohere-0007"]["decision"] == "delete"
    assert "w-sim-cohere-0006" in decisions and "sim-cohere-0007" in decisions
    assert all(r.method == "GET" for r in sim.requests)


def test_each_kind_is_deleted_by_its_own_deleter(
    tmp_path: Path, sim: Simulator, widget: KindSpec
) -> None:
    path = cohere_job(
        tmp_path,
        sim.url,
        "{provider: conn, ids: [sim-cohere-0006]}",
        "{provider: conn, kind: widget, ids: [w-sim-cohere-0007]}",
    )
    assert run_now(path) == 0
    assert WidgetDeleter.deleted == ["w-sim-cohere-0007"]
    assert sorted(sim.deleted) == [("cohere", "sim-cohere-0006"), ("cohere", "sim-cohere-0007")]


def test_inventory_lists_the_kind_asked_for(
    tmp_path: Path, sim: Simulator, widget: KindSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cohere_job(tmp_path, sim.url, "{provider: conn, older_than: 1d}")
    code, out, _ = cli(capsys, "inventory", path, "--kind", "widget")
    assert code == 0 and f"conn ({sim.url}): 12 widgets" in out and "w-sim-cohere-0008" in out
    code, out, err = cli(capsys, "inventory", path, "--kind", "nonsense")
    assert (code, out) == (2, "")
    kinds = REGISTRY["cohere"].kind_names()
    assert err == f"ftjanitor: --kind 'nonsense': no connection's type has it (cohere: {kinds})\n"
