"""One job file with targets at all seven provider types: planned and run in one test,
against the simulator (every HTTP type) and moto's server (Bedrock)."""

from pathlib import Path

import pytest

from runner.audit import read_records, verify
from runner.cli import main
from runner.simulator import Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.motoserver import REGION, MotoServer, create_custom_model

NOW = "2026-06-01T12:00:00Z"
KEYS = {
    "COHERE_API_KEY": COHERE_KEY,
    "BFL_API_KEY": BFL_KEY,
    "OPENAI_API_KEY": "sk-test-openai-3f9a",
    "MISTRAL_API_KEY": "mistral-test-key-77",
    "TOGETHER_API_KEY": "together-test-key-51",
    "FIREWORKS_API_KEY": "fw-test-key-0c2e",
}
JOB = """version: 1
providers:
  cohere: {{base_url: "{url}/cohere", requests_per_minute: 600000}}
  bfl: {{base_url: "{url}/bfl", requests_per_minute: 600000}}
  openai: {{base_url: "{url}/openai", requests_per_minute: 600000}}
  mistral: {{base_url: "{url}/mistral", requests_per_minute: 600000}}
  together: {{base_url: "{url}/together", requests_per_minute: 600000}}
  fw:
    type: fireworks
    account_id: sim-account
    base_url: "{url}/fireworks"
    requests_per_minute: 600000
  aws:
    type: bedrock
    region: {region}
    endpoint_url: "{moto}"
jobs:
  - name: everywhere
    targets:
      - {{provider: cohere, status: [STATUS_FAILED]}}
      - {{provider: bfl, ids: [scratch-lora-1]}}
      - {{provider: openai, name: "exp-lr-*", base_model: "gpt-4o-mini-*", older_than: 30d}}
      - {{provider: mistral, name: "exp-chat", older_than: 30d}}
      - {{provider: together, status: [error]}}
      - {{provider: fw, name: "exp-lora-*", older_than: 30d}}
      - {{provider: aws, name: "exp-*"}}
"""
EXPECTED = {
    ("cohere", "sim-cohere-0008"),
    ("bfl", "scratch-lora-1"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-1:Sim0002b"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-2:Sim0003c"),
    ("mistral", "ft:open-mistral-7b:abcd1234:20260101:exp-chat:efgh5678"),
    ("together", "ft-5c3d0a2e-0002-4a7b-9c1d-000000000002"),
    # exp-lora-a is served by the deployment exp-serving: blocked, never deleted from under it.
    ("fireworks", "exp-lora-b"),
}


def test_one_job_file_plans_and_runs_at_all_seven_types(
    tmp_path: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    bedrock = moto.client()
    for name in ("exp-distill-1", "exp-distill-2", "prod-summarizer"):
        create_custom_model(bedrock, name)
    with Simulator(seed_accounts()) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(JOB.format(url=sim.url, moto=moto.url, region=REGION))
        assert main(["plan", str(job), "--now", NOW]) == 0
        assert sim.mutations() == []
        assert {m["modelName"] for m in bedrock.list_custom_models()["modelSummaries"]} == {
            "exp-distill-1",
            "exp-distill-2",
            "prod-summarizer",
        }
        assert main(["run", str(job), "--yes", "--now", NOW]) == 0
        assert set(sim.deleted) == EXPECTED and len(sim.deleted) == len(EXPECTED)
    left = {m["modelName"] for m in bedrock.list_custom_models()["modelSummaries"]}
    assert left == {"prod-summarizer"}
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    assert verify(log).ok
    outcomes = {
        (r["provider"], r["model_id"]) for r in read_records(log) if r["event"] == "delete.outcome"
    }
    assert len(outcomes) == len(EXPECTED) + 2  # the two Bedrock models by name
    assert {p for p, _ in outcomes} == {
        "cohere", "bfl", "openai", "mistral", "together", "fw", "aws",
    }  # fmt: skip
