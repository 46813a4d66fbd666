"""Job files for the simulator's provider types, for tests that run the CLI on each of
them. The types come from the registries and their models from the contract cases
(tests/cases/), so a new HTTP type is covered by its new files."""

from pathlib import Path
from typing import Any

import yaml

from runner.audit import read_records
from runner.providers import REGISTRY
from runner.simulator import REGISTRY as WIRES
from runner.simulator import Simulator
from runner.simulator.core import DEFAULT_FIREWORKS_ACCOUNT
from tests.conftest import BFL_KEY, COHERE_KEY
from tests.provider_cases import CASES

NOW_ARG = "2026-06-01T12:00:00Z"  # tests.conftest.NOW, as the command line takes it
# Every type ftjanitor reaches over the HTTP core at a base_url the simulator serves (Bedrock
# speaks through boto3, tested against moto and its own stub; Azure OpenAI's endpoint and
# ARM scope are fields of their own, tested in tests/test_azure_openai*.py).
HTTP_TYPES = sorted(
    k
    for k, spec in REGISTRY.items()
    if k in WIRES and spec.credential == "api_key" and spec.default_base_url is not None
)
KEYS = {
    f"{kind.upper()}_API_KEY": {"cohere": COHERE_KEY, "bfl": BFL_KEY}.get(kind, f"{kind}-key")
    for kind in HTTP_TYPES
}
# One deletable model of each type in scripts/demo-seed.yaml (tests.conftest.seed_accounts),
# none of them served by a deployment (a served model is blocked): each type's case says.
MODEL = {case.kind: case.demo_model for case in CASES if case.kind in HTTP_TYPES}


def connection(sim: Simulator, kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": kind,
        "base_url": sim.base_url(kind),
        "requests_per_minute": 600000,
    }
    if "account_id" in REGISTRY[kind].required_fields:
        fields["account_id"] = DEFAULT_FIREWORKS_ACCOUNT
    return fields


def write_job(tmp_path: Path, sim: Simulator, jobs: dict[str, list[dict[str, Any]]]) -> str:
    """A job file with one job per entry (name -> targets) and a connection named after
    each type its targets use."""
    kinds = sorted({t["provider"] for targets in jobs.values() for t in targets})
    data = {
        "version": 1,
        "providers": {kind: connection(sim, kind) for kind in kinds},
        "jobs": [{"name": name, "targets": targets} for name, targets in jobs.items()],
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def outcomes(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The audit's delete.outcome records by model ID (the job file sits in tmp_path)."""
    records = read_records(tmp_path / "audit" / "ftjanitor.jsonl")
    return {str(r["model_id"]): r for r in records if r["event"] == "delete.outcome"}
