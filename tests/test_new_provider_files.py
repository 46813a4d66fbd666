"""A new provider type is new files only: a throwaway type, ``gizmo``, made of a client
module, a simulator wire module and a contract case module, each in a folder of its own
added to its package's ``__path__`` (as a plug-in would be), is picked up by the provider
registry, the job schema, ``simulate``'s defaults, the simulator and the contract tests,
which then plan and delete through it. No existing file names it."""

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import runner.providers
import runner.simulator
import tests.cases
from runner.commands.simulate import default_counts
from runner.discovery import plugins
from runner.jobfile import validate
from runner.jobfile.schema import build_schema
from runner.providers import REGISTRY, SHARED, registry
from runner.simulator import REGISTRY as WIRES
from runner.simulator import Simulator, generate, load_seed
from runner.simulator.core import Accounts
from tests import test_provider_contract as contract
from tests.cases import ProviderCase
from tests.conftest import NOW, seed_accounts
from tests.provider_cases import gathered

PROVIDER = '''
"""Gizmo: GET /v1/gizmos lists {"data": [...]}, DELETE /v1/gizmos/{id} deletes one."""

from runner.providers.base import THE_ID, DeleteAnswer, KindSpecOf, ProviderSpecOf, itself
from runner.providers.mapping import ITS_ID, UNIX_SECONDS, Id, RecordMap, Text, Time
from runner.providers.wire import CollectionDeleter, CollectionLister, bearer, error_message, http


class GizmoLister(CollectionLister):
    collection = "/v1/gizmos"
    api = "Gizmo API"
    records = RecordMap(id=Id("id"), name=(Text("name"), ITS_ID), created_at=Time("created", UNIX_SECONDS))

    def __init__(self, client):
        super().__init__(client, MODEL)

    def names_model(self, response, model_id):
        return response.status == 404 and model_id in error_message(response)


MODEL = KindSpecOf(
    type="gizmo", kind="model", listed="gizmos", deleted="the gizmo", lister=itself,
    deleter=CollectionDeleter, delete_answer=DeleteAnswer({"id": THE_ID, "deleted": True}),
)
SPEC = ProviderSpecOf(
    type="gizmo", title="Gizmo", credential="api_key", default_api_key_env="GIZMO_API_KEY",
    default_base_url="https://api.gizmo.invalid", default_requests_per_minute=60,
    connect=http(bearer, GizmoLister), kinds={"model": MODEL},
)
'''

# Its state lives only in ``Accounts.store("gizmo")``: no field of Accounts is its own.
WIRE = """
from runner.simulator.core import Route, Wire, bearer, entries, register, seeded_at


def _list(sim, req):
    with sim.lock:
        return 200, {"data": list(sim.accounts.store("gizmo").values())}


def _not_found(model_id):
    return 404, {"message": f"gizmo {model_id} not found"}


def _get(sim, req):
    with sim.lock:
        item = sim.accounts.store("gizmo").get(req.params["id"])
    return (200, item) if item else _not_found(req.params["id"])


def _delete(sim, req):
    model_id = req.params["id"]
    with sim.lock:
        if sim.accounts.store("gizmo").pop(model_id, None) is None:
            return _not_found(model_id)
        sim.deleted.append(("gizmo", model_id))
    return 200, {"id": model_id, "deleted": True}


def _authorize(headers, key):
    token = bearer(headers)
    return None if token and key in (None, token) else (401, {"message": "bad key"})


def _seed(accounts, items, now):
    for entry in entries("gizmo", items):
        created = int(seeded_at(entry, now).timestamp())
        accounts.store("gizmo")[entry["id"]] = {"id": entry["id"], "created": created}


def _generate(accounts, count, rng, now):
    _seed(accounts, [{"id": f"gz-{i}", "age_days": rng.randrange(90)} for i in range(count)], now)


WIRE = register(
    Wire(
        kind="gizmo",
        routes=(
            Route("GET", "/v1/gizmos", _list),
            Route("GET", "/v1/gizmos/{id}", _get),
            Route("DELETE", "/v1/gizmos/{id}", _delete),
        ),
        authorize=_authorize,
        error=lambda status, message, variant: {"message": message},
        unknown=lambda method, path: (404, {"message": "Not Found"}),
        seed=_seed,
        generate=_generate,
        ids=lambda accounts: sorted(accounts.store("gizmo")),
        default_count=3,
        demo=[{"id": "gz-demo", "age_days": 40}],
    )
)
"""

CASE = """
from tests.cases import ProviderCase, Selection, seeded

SEED = {"gizmo": [{"id": "gz-old", "age_days": 60}, {"id": "gz-new", "age_days": 2}]}
CASE = ProviderCase(
    kind="gizmo",
    key="gizmo-key-0123",
    accounts=seeded(SEED),
    selections=(Selection("{provider: gizmo, older_than: 30d}", frozenset({"gz-old"})),),
    present="gz-old",
    absent="gz-never",
    held=lambda accounts: set(accounts.store("gizmo")),
    delete_path=lambda i: f"/gizmo/v1/gizmos/{i}",
    api="the Gizmo API",
    list_path="/v1/gizmos",
    wrong_key_says="HTTP 401: bad key",
    garbage_says="malformed body",
    demo_model="gz-demo",
    everything=frozenset({"gz-old", "gz-new"}),
)
"""


def plug_in(monkeypatch: pytest.MonkeyPatch, package: ModuleType, folder: Path, text: str) -> None:
    """``gizmo.py`` in a folder of its own, on the package's path: a new file, nothing else."""
    folder.mkdir()
    (folder / "gizmo.py").write_text(text)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])


@pytest.fixture
def gizmo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderCase]:
    """The three new files plugged in and found by listing; everything undone after."""
    plug_in(monkeypatch, runner.providers, tmp_path / "providers", PROVIDER)
    plug_in(monkeypatch, runner.simulator, tmp_path / "simulator", WIRE)
    plug_in(monkeypatch, tests.cases, tmp_path / "cases", CASE)
    modules = ("runner.providers.gizmo", "runner.simulator.gizmo", "tests.cases.gizmo")
    caches = (build_schema, validate._validator)  # both hold the types the schema names
    for cached in caches:
        cached.cache_clear()
    try:
        specs = registry(plugins("runner.providers", runner.providers.__path__, SHARED))
        monkeypatch.setitem(REGISTRY, "gizmo", specs["gizmo"])
        list(plugins("runner.simulator", runner.simulator.__path__, ("core",)))
        cases, _ = gathered(plugins("tests.cases", tests.cases.__path__, ()))
        yield next(case for case in cases if case.kind == "gizmo")
    finally:
        WIRES.pop("gizmo", None)
        for name in modules:
            sys.modules.pop(name, None)
        for cached in caches:
            cached.cache_clear()


def test_the_registry_schema_and_simulate_defaults_take_a_new_type(
    gizmo: ProviderCase,
) -> None:
    assert REGISTRY["gizmo"].kinds["model"].listed == "gizmos"
    assert "gizmo" in str(build_schema())  # a connection may be of type gizmo
    assert default_counts()["gizmo"] == 3
    assert sorted(generate(0, 0, NOW, gizmo=3).store("gizmo")) == ["gz-0", "gz-1", "gz-2"]
    assert set(load_seed({"gizmo": [{"id": "gz-x"}]}, NOW).store("gizmo")) == {"gz-x"}
    # The demo seed leaves gizmo out: it serves the wire's own demo entries there.
    assert set(seed_accounts().store("gizmo")) == {gizmo.demo_model}
    assert load_seed({}, NOW).store("gizmo") == {}  # a test's own seed is only its own


def test_the_contract_tests_run_on_a_new_type(
    gizmo: ProviderCase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each contract test that holds for every type, on a fresh simulator as its fixture
    would give it."""
    monkeypatch.setenv("GIZMO_API_KEY", gizmo.key)
    checks = [
        lambda sim, folder: contract.test_plan_is_exact_and_sends_nothing_mutating(
            folder, gizmo, sim, capsys
        ),
        lambda sim, folder: contract.test_run_deletes_exactly_the_plan(folder, gizmo, sim, capsys),
        lambda sim, _: contract.test_delete_is_gone_from_a_fresh_listing(gizmo, sim),
        lambda sim, _: contract.test_a_wrong_key_is_an_auth_error_without_the_key(gizmo, sim),
        lambda sim, _: contract.test_a_garbage_list_is_one_clear_line(gizmo, sim),
        lambda sim, _: contract.test_a_named_model_the_provider_says_is_not_found_is_already_absent(
            gizmo, sim
        ),
    ]
    for number, check in enumerate(checks):
        with Simulator(gizmo.accounts(), keys={"gizmo": gizmo.key}) as sim:
            assert sim.counts()["gizmo"] == 2
            folder = tmp_path / str(number)
            folder.mkdir()
            check(sim, folder)


def test_a_wire_keeps_its_state_in_its_own_store() -> None:
    accounts = Accounts()
    accounts.store("gizmo")["a"] = 1
    assert accounts.store("gizmo") == {"a": 1} and accounts.store("other") == {}
