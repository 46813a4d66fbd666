"""A lone surrogate (JSON's "\\ud800", which UTF-8 cannot hold) in a provider's answer:
it arrives as escape text at both ways in (the HTTP core and boto3), so no later write,
hash or terminal line can fail on it, and an ID that held one is refused, never sent."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.audit import verify
from runner.simulator import Simulator
from runner.simulator.core import load_seed
from runner.text import well_formed
from tests.conftest import COHERE_KEY, NOW
from tests.helpers import NOW_ARG, cli
from tests.simjobs import write_job
from tests.test_bedrock import aws_env, lister  # noqa: F401  (aws_env: fake AWS credentials)

NAME = "exp-\ud800-x"  # a lone high half
ID = "sim-\udc00"  # a lone low half
SEED = {
    "cohere": [
        {"id": "sim-a", "name": NAME, "status": "STATUS_READY", "age_days": 100},
        {"id": ID, "name": "exp-b", "status": "STATUS_READY", "age_days": 100},
    ],
    "bedrock": [{"name": "ft-\ud800"}],
}


@pytest.fixture
def hostile() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), cohere_key=COHERE_KEY) as sim:
        yield sim


def test_well_formed_escapes_halves_in_strings_and_keys_and_keeps_pairs() -> None:
    value = {"k\udfff": ["a\ud800", 1, None, {"n": "\U0001f600"}]}
    assert well_formed(value) == {"k\\udfff": ["a\\ud800", 1, None, {"n": "\U0001f600"}]}
    json.dumps(well_formed(value), ensure_ascii=False).encode()  # strict UTF-8 now


def test_plan_run_and_audit_survive_a_lone_surrogate(
    hostile: Simulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    job = write_job(
        tmp_path, hostile, {"j": [{"provider": "cohere", "name": "exp-*", "older_than": "1d"}]}
    )
    code, out, err = cli(capsys, "plan", job, "--json", "--now", NOW_ARG)
    assert code == 0, err
    decisions = {d["id"]: d for d in json.loads(out)["jobs"][0]["decisions"]}
    assert decisions["sim-a"]["name"] == "exp-\\ud800-x"
    assert decisions["sim-a"]["decision"] == "delete"
    assert decisions["sim-\\udc00"]["decision"] == "skip"
    assert "unsafe ID" in decisions["sim-\\udc00"]["reason"]
    code, out, err = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert (code, err) == (0, "")
    assert hostile.deleted == [("cohere", "sim-a")]  # the refused ID was never sent
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_bedrock_answers_are_made_well_formed_too(hostile: Simulator) -> None:
    names = [r.id for r in lister(hostile.base_url("bedrock")).list_models()]
    assert names == ["ft-\\ud800"]
