"""A status outside the type's known list may mean busy as well as done: no rule selects
it, not even ``ids:``, and the plan shows it skipped with the word, escaped. For every
type that has statuses; types without a status vocabulary are unaffected."""

from datetime import timedelta
from pathlib import Path

import pytest

from runner.cli import main
from runner.jobfile.model import Job, Target
from runner.providers import REGISTRY
from runner.providers.base import ModelRecord
from runner.rules import plan_job
from runner.simulator import Simulator, load_seed
from tests.conftest import NOW
from tests.provider_cases import CASES
from tests.simjobs import HTTP_TYPES, KEYS, NOW_ARG, write_job

STATUS_TYPES = sorted(kind for kind, spec in REGISTRY.items() if spec.kinds["model"].statuses)
NEW, READY = "ft-new-1", "ft-ready-1"  # IDs every type's ID rule accepts
HOSTILE = "NEWSTATUS\x1b[31m"
# Where each simulated type's seed puts the status word, as its contract case says.
STATUS_FIELD = {case.kind: case.status_field for case in CASES if case.status_field}
TARGETS = {
    "match_all": Target("c", match_all=True),
    "older_than": Target("c", older_than=timedelta(days=30), older_than_text="30d"),
    "ids": Target("c", ids=(NEW, READY)),
    "keep_latest": Target("c", match_all=True, keep_latest=1),
}


def record(kind: str, model_id: str, status: str, days: int) -> ModelRecord:
    spec = REGISTRY[kind].kinds["model"]
    created = NOW - timedelta(days=days)
    return ModelRecord(model_id, "exp", status, spec.lifecycle(status), created)


def ready_word(kind: str) -> str:
    spec = REGISTRY[kind].kinds["model"]
    return next(s for s in spec.statuses if spec.lifecycle(s) == "ready")


def test_the_simulated_types_with_statuses_are_all_covered() -> None:
    assert set(STATUS_FIELD) == {k for k in HTTP_TYPES if REGISTRY[k].kinds["model"].statuses}
    assert {"openai", "mistral", "bfl"}.isdisjoint(STATUS_TYPES)


@pytest.mark.parametrize("rule", sorted(TARGETS))
@pytest.mark.parametrize("kind", STATUS_TYPES)
def test_an_unknown_status_is_skipped_by_every_rule(kind: str, rule: str) -> None:
    spec = REGISTRY[kind].kinds["model"]
    assert spec.lifecycle(HOSTILE) == "unknown" and spec.lifecycle(None) == "ready"
    # The older one is the unknown one: keep_latest keeps the ready one and deletes none.
    models = [record(kind, NEW, HOSTILE, 90), record(kind, READY, ready_word(kind), 60)]
    plan = plan_job(
        Job("j", (TARGETS[rule],)), {("c", "model"): models}, {("c", "model"): spec}, NOW
    )
    decided = {d.ref.id: d for d in plan.decisions}
    assert decided[NEW].action == "skip"
    assert decided[NEW].reason.startswith("unknown status 'NEWSTATUS\\x1b[31m'")
    assert decided[READY].action == ("keep" if rule == "keep_latest" else "delete")


@pytest.mark.parametrize("kind", sorted(STATUS_FIELD))
def test_the_plan_shows_an_unknown_status_skipped_and_the_run_leaves_it(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    field = STATUS_FIELD[kind]
    seed = {
        kind: [
            {"id": NEW, field: "NEWSTATUS", "age_days": 90},
            {"id": READY, field: ready_word(kind), "age_days": 60},
        ]
    }
    with Simulator(load_seed(seed, NOW), keys={kind: KEYS[f"{kind.upper()}_API_KEY"]}) as sim:
        targets = [{"provider": kind, "match_all": True}, {"provider": kind, "ids": [NEW]}]
        job = write_job(tmp_path, sim, {"sweep": targets})
        assert main(["plan", job, "--now", NOW_ARG]) == 0
        shown = [line for line in capsys.readouterr().out.splitlines() if NEW in line]
        assert shown and all("skip" in line for line in shown)
        assert all("unknown status 'NEWSTATUS'" in line for line in shown)
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
        assert sim.deleted == [(kind, READY)]
