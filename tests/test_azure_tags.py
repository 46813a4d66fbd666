"""Azure deployments carry ARM tags: tags: selects by them, protect_tags: exempts, and
expires_tag: reads a date from one, through the CLI against the simulator, read-only."""

from pathlib import Path

import pytest

from runner.simulator import Simulator, load_seed
from tests.azurejobs import KEY, SERVED, TOKEN, TOKEN_ENV, azure_job
from tests.conftest import NOW
from tests.helpers import plan_decisions

DEPLOYMENTS = [
    {"name": "dep-nlp", "model": SERVED, "age_days": 40, "tags": {"team": "nlp"}},
    {"name": "dep-prod", "model": SERVED, "age_days": 40, "tags": {"team": "nlp", "env": "prod"}},
    {"name": "dep-expired", "model": SERVED, "age_days": 40, "tags": {"expires": "2026-05-01"}},
    {"name": "dep-later", "model": SERVED, "age_days": 40, "tags": {"expires": "2099-01-01"}},
    {"name": "dep-none", "model": SERVED, "age_days": 40},
]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.mark.parametrize(
    ("target", "deleted"),
    [
        ('{provider: az, kind: deployment, tags: {team: "n*"}}', {"dep-nlp", "dep-prod"}),
        (
            "{provider: az, kind: deployment, tags: {team: nlp}, protect_tags: {env: prod}}",
            {"dep-nlp"},
        ),
        ("{provider: az, kind: deployment, expires_tag: expires}", {"dep-expired"}),
    ],
)
def test_arm_tags_select_protect_and_expire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, deleted: set[str]
) -> None:
    seed = {"deployment": DEPLOYMENTS, "config": [{"op_polls": 0}]}
    with Simulator(load_seed({"azure_openai": seed}, NOW), keys={"azure_openai": KEY}) as sim:
        decided = plan_decisions(capsys, azure_job(tmp_path, sim, target))
        assert sim.mutations() == []
    assert {i for i, d in decided.items() if d["decision"] == "delete"} == deleted
