"""IDs with `%`, `?` or `#` are unsafe like `/` and `..`: invalid in a job file's `ids:`,
skipped with a reason when a provider lists them, and never sent (issue 16, item 17)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from runner.cli import main
from runner.providers import REGISTRY
from runner.providers.base import unsafe_id_reason
from runner.simulator import Accounts, Simulator, cohere_model
from tests.conftest import COHERE_KEY, NOW
from tests.test_jobfile_semantics import errors, one_target

UNSAFE = ["a%2Fb", "a%", "a?b", "?", "a#b", "#frag", "x/y", "a\\b", "..", "a b", "a\tb", "a\x7f"]
SAFE = ["ft:gpt-4o-mini:acme:exp:AbC1", "my_model-1.v2", "a.b", "x@y", "a+b=c"]
REASON = "ID contains '/', '\\', '..', '%', '?', '#', whitespace or control characters"
NOW_ARG = "2026-06-01T12:00:00Z"


@pytest.mark.parametrize("model_id", UNSAFE)
def test_unsafe_ids_have_one_reason(model_id: str) -> None:
    assert unsafe_id_reason(model_id) == REASON


@pytest.mark.parametrize("model_id", SAFE)
def test_ordinary_ids_stay_safe(model_id: str) -> None:
    assert unsafe_id_reason(model_id) is None


@pytest.mark.parametrize("kind", sorted(REGISTRY))
@pytest.mark.parametrize("model_id", ["run%41", "run?x=1", "run#top"])
def test_a_job_file_naming_one_is_invalid_for_every_type(
    tmp_path: Path, kind: str, model_id: str
) -> None:
    found = errors(tmp_path, one_target(kind, ids=[model_id]))
    assert found[0] == f"jobs[0].targets[0].ids[0]: {model_id!r}: {REASON}"


def test_a_provider_listing_them_is_skipped_with_the_reason_and_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    old = NOW - timedelta(days=90)
    accounts = Accounts()
    for model_id in ("ok-1", "pct%2e", "q?x=1", "h#frag"):
        accounts.add_cohere(cohere_model(model_id, f"name-{len(model_id)}", "STATUS_READY", old))
    with Simulator(accounts) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            "version: 1\n"
            f'providers: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: j, targets: [{provider: cohere, older_than: 30d}]}\n"
        )
        assert main(["plan", str(job), "--json", "--now", NOW_ARG]) == 0
        decisions = {
            d["id"]: d for d in json.loads(capsys.readouterr().out)["jobs"][0]["decisions"]
        }
        assert main(["run", str(job), "--yes", "--now", NOW_ARG]) == 0
        capsys.readouterr()
    assert sim.deleted == [("cohere", "ok-1")]
    assert all(r.method == "GET" for r in sim.requests if "ok-1" not in r.path)
    for model_id in ("pct%2e", "q?x=1", "h#frag"):
        assert decisions[model_id]["decision"] == "skip"
        assert decisions[model_id]["reason"] == f"unsafe ID from provider: {REASON}"
