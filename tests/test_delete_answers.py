"""A delete is ``deleted`` only on the type's declared success answer (DESIGN.md, "Delete
answers"). Any other 2xx is settled by a lookup: gone is ``deleted`` (confirmed gone by
lookup), still there is ``failed`` with what was said, on one escaped line. Through the
CLI for every HTTP type, on moto's stub for Bedrock."""

import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.deletion import delete_and_settle
from runner.providers import REGISTRY, bedrock
from runner.providers.base import THE_ID, DeleteAnswer
from runner.simulator import Fault, Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.motoserver import MotoServer, Reply, aws_error, stub
from tests.simjobs import HTTP_TYPES, MODEL, NOW_ARG, outcomes, write_job
from tests.test_bedrock import lister as bedrock_lister

# (what, status, raw body); ``{id}`` is the deleted model's ID.
BAD_ANSWERS = [
    ("html page", 200, "<html>\n<body>\x1b[31m502 Bad Gateway\u202e</body></html>"),
    ("error object", 200, '{"error": "internal"}'),
    ("deployed", 200, '{"code": 9, "message": "model is deployed"}'),
    ("not found", 200, '{"detail": "Finetune not found"}'),
    ("empty body", 200, ""),
    ("empty object", 200, "{}"),
    ("deleted false", 200, '{"id": "{id}", "object": "model", "deleted": false}'),
    ("deleted 1", 200, '{"id": "{id}", "object": "model", "deleted": 1}'),
    ("another model", 200, '{"id": "other", "object": "model", "deleted": true}'),
    ("a message and more", 200, '{"message": "Fine-tune job deleted", "code": 9}'),
    (
        "another finetune",
        200,
        '{"status": "success", "message": "ok", "deleted_finetune_id": "other",'
        ' "timestamp": "2026-06-01T12:00:00Z"}',
    ),
    ("accepted", 202, "{}"),
    ("no content", 204, ""),
]


def body_for(raw: str, kind: str) -> str:
    return raw.replace("{id}", MODEL[kind])


def declared(kind: str, status: int, raw: str) -> bool:
    try:
        body = json.loads(body_for(raw, kind)) if raw else None
    except ValueError:
        return False
    return REGISTRY[kind].kinds["model"].delete_answer.confirms(status, body, MODEL[kind])


CASES = [
    pytest.param(kind, status, raw, id=f"{kind}-{what}")
    for kind in HTTP_TYPES
    for what, status, raw in BAD_ANSWERS
    if not declared(kind, status, raw)  # {} is Cohere's and Fireworks' own answer
]


pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


def run_one(tmp_path: Path, kind: str, faults: list[Fault]) -> tuple[int, Simulator]:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY, faults=faults) as sim:
        job = write_job(tmp_path, sim, {"one": [{"provider": kind, "ids": [MODEL[kind]]}]})
        return main(["run", job, "--yes", "--now", NOW_ARG]), sim


def answer(status: int, body: str) -> list[Fault]:
    """Every delete answered so (BFL deletes with POST), the model left as it was."""
    return [Fault("body", method=m, status=status, body=body) for m in ("DELETE", "POST")]


def test_every_type_declares_its_answer_and_cases_cover_each() -> None:
    assert all(
        isinstance(spec.kinds["model"].delete_answer, DeleteAnswer) for spec in REGISTRY.values()
    )
    assert set(MODEL) == set(HTTP_TYPES)
    for kind in HTTP_TYPES:
        assert sum(1 for case in CASES if case.values[0] == kind) >= len(BAD_ANSWERS) - 1


@pytest.mark.parametrize(("kind", "status", "raw"), CASES)
def test_an_undeclared_2xx_for_a_model_still_there_is_failed(
    tmp_path: Path, kind: str, status: int, raw: str
) -> None:
    code, sim = run_one(tmp_path, kind, answer(status, body_for(raw, kind)))
    assert code == 1
    assert sim.deleted == []
    outcome = outcomes(tmp_path)[MODEL[kind]]
    assert (outcome["result"], outcome["http_status"]) == ("failed", status)
    error = str(outcome["error"])
    assert f"HTTP {status} is not the answer a delete gives" in error
    assert error.endswith("the model is still there")
    assert error.isprintable()  # one line, the HTML's escape codes escaped


@pytest.mark.parametrize("kind", HTTP_TYPES)
def test_an_undeclared_2xx_for_a_model_gone_is_deleted_by_lookup(tmp_path: Path, kind: str) -> None:
    # garbage: the simulator deletes, then answers 200 with an HTML page
    code, sim = run_one(tmp_path, kind, [Fault("garbage", method=m) for m in ("DELETE", "POST")])
    assert code == 0
    assert sim.deleted == [(kind, MODEL[kind])]
    outcome = outcomes(tmp_path)[MODEL[kind]]
    assert outcome["result"] == "deleted"
    assert str(outcome["error"]).endswith("confirmed gone by lookup")


@pytest.mark.parametrize("kind", HTTP_TYPES)
def test_the_declared_answer_is_deleted(tmp_path: Path, kind: str) -> None:
    code, sim = run_one(tmp_path, kind, [])
    assert code == 0 and sim.deleted == [(kind, MODEL[kind])]
    outcome = outcomes(tmp_path)[MODEL[kind]]
    assert (outcome["result"], outcome["error"]) == ("deleted", None)


def test_a_lookup_that_fails_leaves_the_delete_failed(tmp_path: Path) -> None:
    faults = [*answer(200, "<html>ok</html>"), Fault("status", method="GET", status=500)]
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, faults=faults) as sim:
        job = write_job(
            tmp_path, sim, {"one": [{"provider": "cohere", "ids": ["sim-cohere-0008"]}]}
        )
        # the listing is not a lookup: let it through, then fail every GET
        sim.faults[-1].after = 1
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
    outcome = outcomes(tmp_path)["sim-cohere-0008"]
    assert outcome["result"] == "failed" and "then could not check" in str(outcome["error"])


def test_the_answer_declaration_reads_values_strictly() -> None:
    answer = DeleteAnswer({"id": THE_ID, "deleted": True, "message": str})
    good = {"id": "m", "deleted": True, "message": "gone"}
    assert answer.confirms(200, good, "m")
    assert not answer.confirms(201, good, "m")
    assert not answer.confirms(200, {**good, "id": "n"}, "m")
    assert not answer.confirms(200, {**good, "deleted": 1}, "m")
    assert not answer.confirms(200, {**good, "message": 5}, "m")
    assert not answer.confirms(200, {**good, "more": None}, "m")
    assert not answer.confirms(200, [good], "m")
    assert DeleteAnswer().confirms(200, {}, "m") and not DeleteAnswer().confirms(200, None, "m")


@pytest.mark.parametrize(
    ("lookup", "result", "ending"),
    [
        (Reply(200, {"modelName": "exp-a", "modelArn": "arn"}), "failed", "still there"),
        (aws_error("ResourceNotFoundException", "no", 404), "deleted", "gone by lookup"),
    ],
)
def test_bedrock_settles_an_undeclared_answer_by_lookup(
    lookup: Reply, result: str, ending: str, moto: MotoServer
) -> None:
    # moto's fixture for its AWS environment; the answers come from a stub
    with stub(lambda seen: Reply(202, {}) if seen.method == "DELETE" else lookup) as server:
        settled = delete_and_settle(bedrock.deleter(bedrock_lister(server.url)), "exp-a")
    assert (settled.result, settled.http_status) == (result, 202)
    assert settled.error is not None and settled.error.endswith(ending)
    assert [s.method for s in server.seen] == ["DELETE", "GET"]  # never sent twice
