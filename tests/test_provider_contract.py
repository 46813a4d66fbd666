"""The contract every provider type keeps, run against each one's fixture in
tests/provider_cases.py through real HTTP to the simulator: a plan is exact and sends
nothing mutating; a run deletes exactly the plan; the provider's own not-found for a named
model is already_absent and a bare 404 is failed; in-progress models are selected only when
their status is named; base models are never candidates; status:/base_model: are refused
on types that have none; a delete is gone from a fresh listing, retried after 429 and
settled by one look when its answer is lost; a wrong key, a retired list and a garbage
list are each one clear line."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from runner.deletion import delete_and_settle
from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.simulator import Fault, Simulator
from tests.conftest import Both, provider
from tests.helpers import (
    cli,
    job_yaml,
    one_job,
    plan_decisions,
    planned,
    run_now,
    simulator_job,
    write_job,
)
from tests.provider_cases import CASES, ELSEWHERE, ProviderCase

Capsys = pytest.CaptureFixture[str]


def simulated(keep: Callable[[ProviderCase], object] = bool) -> list[Any]:
    """The cases ``keep`` holds for, once for each error shape the provider may answer in."""
    return [
        pytest.param((case, variant), id="-".join([case.kind, *variant.values()]))
        for case in CASES
        if keep(case)
        for variant in case.variants
    ]


@pytest.fixture(params=simulated())
def served(request: pytest.FixtureRequest) -> Iterator[tuple[ProviderCase, Simulator]]:
    """A case and a simulator holding its seed, in each error shape it may answer in."""
    case, variant = request.param
    keys = {case.kind: case.key}
    with Simulator(case.accounts(), keys=keys, variants=variant) as sim:
        yield case, sim


@pytest.fixture
def case(served: tuple[ProviderCase, Simulator], monkeypatch: pytest.MonkeyPatch) -> ProviderCase:
    spec = REGISTRY[served[0].kind]
    assert spec.default_api_key_env is not None
    monkeypatch.setenv(spec.default_api_key_env, served[0].key)
    return served[0]


@pytest.fixture
def sim(served: tuple[ProviderCase, Simulator]) -> Simulator:
    return served[1]


def client(
    case: ProviderCase, sim: Simulator, base_url: str | None = None, key: str | None = None
) -> Both:
    extra: dict[str, Any] = {"options": dict(case.connection)} if case.connection else {}
    url = base_url or sim.base_url(case.kind)
    return provider(sim, case.kind, key or case.key, base_url=url, **extra)


def job(tmp_path: Path, case: ProviderCase, sim: Simulator, target: str) -> str:
    return simulator_job(tmp_path, sim, case.kind, target, connection=case.connection)


def test_every_provider_type_has_a_contract_fixture() -> None:
    """A new provider type fails here until it has a case (or a reason it is elsewhere)."""
    assert {case.kind for case in CASES} | set(ELSEWHERE) == set(REGISTRY)
    assert not {case.kind for case in CASES} & set(ELSEWHERE)
    for case in CASES:  # a type with in-progress statuses says which of its models are
        assert (case.in_progress is None) == (not REGISTRY[case.kind].kinds["model"].in_progress), (
            case.kind
        )


# -- the provider, through its lister and deleter ------------------------------------------


def test_delete_is_gone_from_a_fresh_listing(case: ProviderCase, sim: Simulator) -> None:
    listed = {r.id for r in client(case, sim).list_models()}
    result = client(case, sim).delete(case.present)
    assert (result.result, result.http_status, result.attempts) == ("deleted", 200, 1)
    assert sim.deleted == [(case.kind, case.present)]
    assert {r.id for r in client(case, sim).list_models()} == listed - {case.present}
    assert not client(case, sim).exists(case.present)
    (request,) = sim.mutations()
    assert unquote(request.path) == case.delete_path(case.present)
    assert request.method == case.delete_method


def test_429_then_success(case: ProviderCase, sim: Simulator) -> None:
    listed = {r.id for r in client(case, sim).list_models()}
    sim.faults = [Fault("status", status=429, retry_after=0, times=1)]
    assert {r.id for r in client(case, sim).list_models()} == listed
    sim.faults, sim.fault_hits, sim.fault_seen = [Fault("status", status=429, times=2)], {}, {}
    result = client(case, sim).delete(case.present)
    assert (result.result, result.attempts) == ("deleted", 3)
    assert sim.deleted == [(case.kind, case.present)]


def test_a_lost_delete_answer_is_settled_by_looking(case: ProviderCase, sim: Simulator) -> None:
    sim.faults = [Fault("drop_after", method=case.delete_method, times=1)]
    result = delete_and_settle(client(case, sim).deleter, case.present)
    assert result.result == "deleted" and "confirmed gone" in (result.error or "")
    # One look settles it: never a second delete.
    assert [r.method for r in sim.requests] == [case.delete_method, "GET"]
    assert sim.deleted == [(case.kind, case.present)]


def test_a_wrong_key_is_an_auth_error_without_the_key(case: ProviderCase, sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        list(client(case, sim, key="wrong-key-0123456789").list_models())
    assert caught.value.auth and case.wrong_key_says in str(caught.value)
    assert "wrong-key-0123456789" not in str(caught.value)


def test_a_garbage_list_is_one_clear_line(case: ProviderCase, sim: Simulator) -> None:
    sim.faults = [Fault("garbage", method="GET")]
    with pytest.raises(ProviderError) as caught:
        list(client(case, sim).list_models())
    assert case.garbage_says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("status", [404, 410])
def test_a_retired_list_is_one_clear_line(case: ProviderCase, sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", method="GET", status=status)]
    with pytest.raises(ProviderError) as caught:
        list(client(case, sim).list_models())
    message = str(caught.value)
    where = f"({sim.base_url(case.kind)}): {case.api} answered HTTP {status} on {case.list_path}"
    assert where in message and "looks retired" in message and "\n" not in message


def test_plan_is_exact_and_sends_nothing_mutating(
    tmp_path: Path, case: ProviderCase, sim: Simulator, capsys: Capsys
) -> None:
    for selection in case.selections:
        deletes = planned(capsys, job(tmp_path, case, sim, selection.target))
        assert set(deletes) == selection.selects, selection.target
        for model_id, reason in selection.reasons.items():
            assert deletes[model_id] == reason
    assert sim.mutations() == [] and sim.deleted == []


def test_run_deletes_exactly_the_plan(
    tmp_path: Path, case: ProviderCase, sim: Simulator, capsys: Capsys
) -> None:
    listed = {r.id for r in client(case, sim).list_models()}
    selection = case.selections[-1]
    job_path = job(tmp_path, case, sim, selection.target)
    assert set(planned(capsys, job_path)) == selection.selects
    assert run_now(job_path) == 0
    assert sorted(sim.deleted) == sorted((case.kind, i) for i in selection.selects)
    sent = sorted(unquote(r.path) for r in sim.mutations())  # one request per model
    assert sent == sorted(case.delete_path(i) for i in selection.selects)
    assert {r.id for r in client(case, sim).list_models()} == listed - selection.selects


def test_a_named_model_the_provider_says_is_not_found_is_already_absent(
    case: ProviderCase, sim: Simulator
) -> None:
    result = client(case, sim).delete(case.absent)
    assert (result.result, result.http_status) == ("already_absent", 404)
    assert not client(case, sim).exists(case.absent)
    assert sim.deleted == []


def test_a_bare_404_is_failed_never_absent(case: ProviderCase, sim: Simulator) -> None:
    # A path the provider does not serve (a retired API, a wrong base_url) answers 404.
    wrong = client(case, sim, base_url=sim.base_url(case.kind) + "/nothing")
    result = wrong.delete(case.present)
    assert (result.result, result.http_status) == ("failed", 404)
    assert case.bare_404_says in (result.error or "")
    with pytest.raises(ProviderError, match="HTTP 404"):
        wrong.exists(case.present)
    # The provider's own delete path, answering a 404 that does not name the model.
    sim.faults = [Fault("status", method=case.delete_method, status=404)]
    injected = client(case, sim).delete(case.present)
    assert (injected.result, injected.http_status) == ("failed", 404)
    assert case.injected_404_says in (injected.error or "")
    # Its own error shape, everywhere, but a message that does not name the model.
    sim.faults = [Fault("status", status=404, api=case.kind)]
    assert client(case, sim).delete(case.present).result == "failed"
    with pytest.raises(ProviderError, match="HTTP 404"):
        client(case, sim).exists(case.present)
    # A lookup needs the same proof as a delete.
    sim.faults = [Fault("status", method="GET", status=404)]
    with pytest.raises(ProviderError, match="HTTP 404"):
        client(case, sim).exists(case.present)
    assert sim.deleted == []
    sim.faults = []
    assert case.present in {r.id for r in client(case, sim).list_models()}  # still there


@pytest.mark.parametrize("served", simulated(lambda c: c.in_progress), indirect=True)
def test_in_progress_models_are_selected_only_when_their_status_is_named(
    tmp_path: Path, case: ProviderCase, sim: Simulator, capsys: Capsys
) -> None:
    assert case.in_progress is not None
    everything = job(tmp_path, case, sim, f"{{provider: {case.kind}, match_all: true}}")
    assert set(planned(capsys, everything)) == case.everything
    assert not case.everything & case.in_progress.selects
    named = job(tmp_path, case, sim, case.in_progress.target)
    assert set(planned(capsys, named)) == case.in_progress.selects
    assert run_now(named) == 0
    assert sorted(sim.deleted) == sorted((case.kind, i) for i in case.in_progress.selects)


@pytest.mark.parametrize("served", simulated(lambda c: c.bases), indirect=True)
def test_base_models_are_never_candidates(
    tmp_path: Path, case: ProviderCase, sim: Simulator, capsys: Capsys
) -> None:
    everything = job(tmp_path, case, sim, f"{{provider: {case.kind}, match_all: true}}")
    assert set(plan_decisions(capsys, everything)) == case.listed  # none for a base model
    assert run_now(everything) == 0
    assert {model_id for _, model_id in sim.deleted} == case.everything
    deletes = [unquote(r.path) for r in sim.mutations()]
    assert len(deletes) == len(case.everything)
    assert not any(p.endswith(tuple(f"/{b}" for b in case.bases)) for p in deletes)
    assert case.bases <= case.held(sim.accounts)  # every base model is still there


@pytest.mark.parametrize("served", simulated(lambda c: c.bases), indirect=True)
def test_a_base_model_named_by_id_is_never_deleted(
    tmp_path: Path, case: ProviderCase, sim: Simulator, capsys: Capsys
) -> None:
    ids = ", ".join(sorted(case.bases))
    by_id = job(tmp_path, case, sim, f"{{provider: {case.kind}, ids: [{ids}]}}")
    if case.base_by_id == "invalid":
        code, _, err = cli(capsys, "validate", by_id)
        assert code == 2 and case.base_by_id_says in err
    else:
        assert case.base_by_id == "absent"
        named = plan_decisions(capsys, by_id)
        assert {named[b]["decision"] for b in case.bases} == {"absent"}  # never listed
        rest = {d["decision"] for i, d in named.items() if i not in case.bases}
        assert rest == {"nomatch"}  # the listed models are looked at, not deleted
        assert run_now(by_id) == 0
    assert sim.mutations() == []
    assert case.bases <= case.held(sim.accounts)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
@pytest.mark.parametrize(
    ("rule", "has"),
    [
        ("status", lambda spec: bool(spec.statuses)),
        ("base_model", lambda spec: spec.has_base_model),
    ],
    ids=["status", "base_model"],
)
def test_status_and_base_model_are_refused_on_types_without_them(
    tmp_path: Path, kind: str, rule: str, has: Any, capsys: Capsys
) -> None:
    spec = REGISTRY[kind]
    # What a type may require.
    needed = {"account_id": "acme", "region": "us-east-1", "endpoint": "https://x.openai.azure.com"}
    fields = {name: needed[name] for name in spec.required_fields}
    model = spec.kinds["model"]
    value = f"[{model.statuses[0]}]" if rule == "status" and model.statuses else '"x-*"'
    target = f"{{provider: {kind}, {rule}: {value}}}"
    code, _, err = cli(
        capsys, "validate", write_job(tmp_path, job_yaml({kind: fields}, one_job("j", [target])))
    )
    if has(model):
        assert code == 0, err
    else:
        assert code == 2 and rule in err, err
