"""Cost in every plan: the price facts and the job file's ``prices:`` (first match wins),
Decimal arithmetic rounded only where shown, the ``min_monthly_cost`` rule, and the savings
in the plan's summary, ``--json``, ``--format markdown``, ``run.end``, the metrics and the
notifications.

Models are plannable through the CLI today, so the CLI tests price stored models (Mistral
and Bedrock storage against the simulator); hourly prices, which need a record's
``Billing``, are tested on ``runner.cost`` itself.
"""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.cost import (
    HOURS_PER_MONTH,
    PriceFact,
    PriceOverride,
    Savings,
    decimal_of,
    money,
    monthly_cost,
    savings,
)
from runner.providers import REGISTRY
from runner.providers.base import Billing, ModelRecord
from runner.providers.table import price_table
from runner.simulator import Simulator
from tests.conftest import MotoServer
from tests.helpers import NOW_ARG, ROOT, TEST_PACE, cli, job_yaml, one_job, write_job
from tests.test_notify_e2e import Receiver

# The seed's Mistral fine-tunes (scripts/demo-seed.yaml): two on open-mistral-7b, one on
# mistral-small-latest.
MISTRAL_7B = {
    "ft:open-mistral-7b:abcd1234:20260101:exp-chat:efgh5678",
    "ft:open-mistral-7b:abcd1234:20260301:support-v2:ijkl9012",
}
MISTRAL_SMALL = "ft:mistral-small-latest:abcd1234:20260501:exp-new:mnop3456"


pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


def h100(units: str, **keys: str) -> ModelRecord:
    billing = Billing(Decimal(units), "nvidia_h100", {"hardware": "2x_nvidia_h100", **keys})
    return ModelRecord(id="endpoint-1", billing=billing)


# -- runner.cost -----------------------------------------------------------------------------


def test_an_hourly_price_multiplies_the_billed_units_over_730_hours() -> None:
    fact = PriceFact(per_hour=Decimal("3.99"), unit="GPU")
    cost, basis = monthly_cost(h100("2"), "together", "deployment", fact)
    assert cost == Decimal("3.99") * 2 * 730 == Decimal("5825.40")
    assert basis == "2 × nvidia_h100 at $3.99/h"
    assert HOURS_PER_MONTH == 730


def test_a_stopped_item_costs_nothing_and_an_unbilled_one_is_unknown() -> None:
    fact = PriceFact(per_hour=Decimal("3.99"))
    assert monthly_cost(h100("0"), "together", "deployment", fact) == (
        Decimal(0),
        "stopped: 0 × nvidia_h100 at $3.99/h",
    )
    cost, basis = monthly_cost(ModelRecord(id="e"), "together", "deployment", fact)
    assert cost is None and basis.startswith("unknown:")
    cost, basis = monthly_cost(h100("2"), "fireworks", "deployment", None)
    assert cost is None
    assert basis == "unknown: no price for fireworks deployment (set one in prices:)"


def test_a_monthly_price_is_per_stored_item() -> None:
    fact = PriceFact(per_month=Decimal("1.95"))
    assert monthly_cost(ModelRecord(id="m"), "bedrock", "model", fact) == (
        Decimal("1.95"),
        "storage $1.95/month",
    )


def test_the_first_matching_override_wins_and_globs_match_the_billing_keys() -> None:
    overrides = [
        PriceOverride(PriceFact(per_hour=Decimal("5.49")), 0, hardware="*h200*"),
        PriceOverride(PriceFact(per_hour=Decimal("2.50")), 1, type="together", hardware="*h100*"),
        PriceOverride(PriceFact(per_hour=Decimal("9.95")), 2, type="together"),
        PriceOverride(PriceFact(per_month=Decimal("7")), 3, accelerator="*"),
    ]
    default = PriceFact(per_hour=Decimal("3.99"))
    cost, basis = monthly_cost(h100("2"), "together", "deployment", default, overrides)
    assert (cost, basis) == (Decimal("3650.00"), "2 × nvidia_h100 at $2.50/h (prices[1])")
    # A selector naming a key the record lacks never matches it (prices[3] is skipped).
    cost, basis = monthly_cost(h100("1"), "fireworks", "deployment", default, overrides)
    assert (cost, basis) == (Decimal("2912.70"), "1 × nvidia_h100 at $3.99/h")
    # base_model matches a model's own base model too.
    override = [PriceOverride(PriceFact(per_month=Decimal(3)), 0, base_model="open-*")]
    record = ModelRecord(id="m", base_model="open-mistral-7b")
    assert monthly_cost(record, "mistral", "model", None, override)[0] == Decimal(3)


def test_a_kinds_prices_by_its_own_words_come_after_the_job_files_and_before_its_fact() -> None:
    built_in = [PriceOverride(PriceFact(per_hour=Decimal("3.99")), None, hardware="*h100*")]
    default = PriceFact(per_hour=Decimal("9.95"))
    cost, basis = monthly_cost(h100("1"), "together", "deployment", default, (), built_in)
    assert (cost, basis) == (Decimal("2912.70"), "1 × nvidia_h100 at $3.99/h")  # no prices[i]
    job_file = [PriceOverride(PriceFact(per_hour=Decimal(1)), 0, hardware="*")]
    cost, basis = monthly_cost(h100("1"), "together", "deployment", default, job_file, built_in)
    assert (cost, basis) == (Decimal(730), "1 × nvidia_h100 at $1.00/h (prices[0])")
    other = ModelRecord(id="e", billing=Billing(Decimal(1), "x", {"hardware": "1x_a10"}))
    assert monthly_cost(other, "together", "deployment", default, (), built_in)[0] == Decimal(
        "7263.50"
    )


def test_decimal_exactness_from_the_job_file_to_the_sum() -> None:
    assert decimal_of(3.99) == Decimal("3.99")  # never 3.9900000000000002131...
    assert decimal_of(0.1) == Decimal("0.1") and decimal_of(2) == Decimal(2)
    assert decimal_of(float("nan")) is None and decimal_of(float("inf")) is None
    ten_cents = [Decimal("0.1")] * 3
    assert savings(ten_cents).amount == Decimal("0.3")  # floats would give 0.30000000000000004
    assert savings([Decimal("1.95"), None, Decimal(2), None]) == Savings(Decimal("3.95"), 2)
    assert Savings(Decimal(1), 1) + Savings(Decimal("0.5"), 0) == Savings(Decimal("1.5"), 1)
    # Rounded only where shown: half a cent rounds up, thousands are grouped.
    assert money(Decimal("0.005")) == "$0.01" and money(Decimal("1234.5")) == "$1,234.50"
    assert Savings(Decimal("6"), 1).text() == "saves about $6.00/month (1 with unknown cost)"
    # A provider billing absurd units is priced, and shown, without an error.
    cost, _ = monthly_cost(h100("1e30"), "together", "deployment", PriceFact(per_hour=Decimal(1)))
    assert cost is not None and money(cost).startswith("$730,000,000,")


def test_the_specs_declare_the_documented_prices_and_the_readme_shows_them() -> None:
    prices = {name: spec.kinds["model"].price for name, spec in REGISTRY.items()}
    assert prices["bedrock"] == PriceFact(
        per_month=Decimal("1.95"), source=prices["bedrock"].source, date="2026-12"
    )
    assert prices["mistral"] is not None and prices["mistral"].per_month == Decimal(2)
    assert prices["openai"] is not None and prices["openai"].per_month == 0
    assert prices["openai"].guess
    for unknown in ("cohere", "bfl", "together", "fireworks"):
        assert prices[unknown] is None
    assert price_table() in (ROOT / "README.md").read_text("utf-8")


# -- through the CLI against the simulator ---------------------------------------------------


def mistral_job(folder: Path, sim: Simulator, *targets: str, prices: str = "") -> str:
    connection = {"base_url": sim.base_url("mistral"), "requests_per_minute": TEST_PACE}
    top = f"prices:\n{prices}" if prices else ""
    return write_job(folder, job_yaml({"mistral": connection}, one_job("cleanup", [*targets]), top))


def plan_json(capsys: pytest.CaptureFixture[str], path: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "plan", path, "--json", "--now", NOW_ARG)
    assert code == 0, err
    body: dict[str, Any] = json.loads(out)
    return body


def costs(body: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    (job,) = body["jobs"]
    return {d["id"]: (d["monthly_cost"], d["cost_basis"]) for d in job["decisions"]}


def test_plan_json_prices_each_model_by_its_fact_and_sums_the_deletes(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = plan_json(capsys, mistral_job(tmp_path, sim, '{provider: mistral, name: "exp-*"}'))
    assert costs(body) == {i: (2.0, "storage $2.00/month") for i in {*MISTRAL_7B, MISTRAL_SMALL}}
    (job,) = body["jobs"]
    assert job["estimated_monthly_savings"] == 4.0 and job["unknown_cost"] == 0  # two exp-*
    assert job["end"]["estimated_monthly_savings"] == 4.0  # a dry run: what it would save
    assert (body["estimated_monthly_savings"], body["unknown_cost"]) == (4.0, 0)


def test_overrides_price_by_base_model_and_the_first_match_wins(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = (
        '  - {type: "mis*", base_model: "open-mistral-*", per_month: 3.99}\n'
        "  - {type: mistral, per_month: 0.10}\n"
        "  - {type: mistral, per_month: 1000}\n"
    )
    path = mistral_job(tmp_path, sim, "{provider: mistral, match_all: true}", prices=prices)
    body = plan_json(capsys, path)
    expected = {i: (3.99, "storage $3.99/month (prices[0])") for i in MISTRAL_7B}
    expected[MISTRAL_SMALL] = (0.1, "storage $0.10/month (prices[1])")
    assert costs(body) == expected
    assert body["estimated_monthly_savings"] == 8.08  # 3.99 + 3.99 + 0.10, exactly


def test_bedrock_storage_is_priced_through_boto3_against_the_simulator(
    sim: Simulator, moto: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ``moto`` only for its AWS environment: the simulator speaks Bedrock's REST-JSON.
    connection = {"region": "us-east-1", "endpoint_url": sim.base_url("bedrock")}
    # exp-summarizer-ft is served by a Provisioned Throughput: it goes with it.
    targets = ['{provider: bedrock, name: "exp-*", with_deployments: true}']
    path = write_job(tmp_path, job_yaml({"bedrock": connection}, one_job("b", targets)))
    body = plan_json(capsys, path)
    (job,) = body["jobs"]
    found = {(d["monthly_cost"], d["cost_basis"]) for d in job["decisions"] if d["kind"] == "model"}
    assert found == {(1.95, "storage $1.95/month")}
    assert body["estimated_monthly_savings"] == 1.95  # exp-summarizer-ft (its PT: unknown)


def test_unknown_costs_are_counted_apart_in_the_summary_markdown_and_json(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = {
        kind: {"base_url": sim.base_url(kind), "requests_per_minute": TEST_PACE}
        for kind in ("mistral", "cohere")
    }
    targets = [
        "{provider: mistral, match_all: true}",
        "{provider: cohere, status: [STATUS_FAILED]}",
    ]
    path = write_job(tmp_path, job_yaml(connections, one_job("mixed", targets)))
    body = plan_json(capsys, path)
    (job,) = body["jobs"]
    cohere = [d for d in job["decisions"] if d["connection"] == "cohere"]
    assert cohere and all(d["monthly_cost"] is None for d in cohere)
    assert cohere[0]["cost_basis"] == "unknown: no price for cohere model (set one in prices:)"
    failed = sum(1 for d in cohere if d["decision"] == "delete")
    assert (body["estimated_monthly_savings"], body["unknown_cost"]) == (6.0, failed)
    said = f"saves about $6.00/month ({failed} with unknown cost)"
    code, out, _ = cli(capsys, "plan", path, "--now", NOW_ARG)
    assert code == 0 and f"not matched by any rule; {said}" in out
    assert "COST/MONTH" in out and "$2.00" in out
    code, out, _ = cli(capsys, "plan", path, "--format", "markdown", "--now", NOW_ARG)
    assert code == 0 and out.splitlines()[0].endswith(f": {said}")


def test_min_monthly_cost_selects_known_costs_at_least_n_and_never_an_unknown_one(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = '  - {type: mistral, base_model: "open-mistral-*", per_month: 10}\n'

    def deletes(target: str, prices: str = prices) -> set[str]:
        body = plan_json(capsys, mistral_job(tmp_path, sim, target, prices=prices))
        return {d["id"] for d in body["jobs"][0]["decisions"] if d["decision"] == "delete"}

    assert deletes("{provider: mistral, min_monthly_cost: 10}") == MISTRAL_7B
    assert deletes("{provider: mistral, min_monthly_cost: 2}") == {*MISTRAL_7B, MISTRAL_SMALL}
    assert deletes("{provider: mistral, min_monthly_cost: 10.01}") == set()
    # Cohere has no price fact: every cost is unknown, and kept even at 0.
    cohere = {"base_url": sim.base_url("cohere"), "requests_per_minute": TEST_PACE}
    path = job_yaml({"cohere": cohere}, one_job("c", ["{provider: cohere, min_monthly_cost: 0}"]))
    (job,) = plan_json(capsys, write_job(tmp_path, path))["jobs"]
    assert job["decisions"] and all(d["decision"] != "delete" for d in job["decisions"])
    reasons = {d["reason"] for d in job["decisions"]}
    assert "cost unknown, so not over min_monthly_cost $0.00" in reasons


def test_a_run_reports_what_it_deleted_in_run_end_metrics_and_notifications(
    sim: Simulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Receiver("ok") as hook_json, Receiver("ok") as hook_slack:
        monkeypatch.setenv("HOOK_JSON", hook_json.url)
        monkeypatch.setenv("HOOK_SLACK", hook_slack.url)
        prices = '  - {type: mistral, base_model: "open-mistral-*", per_month: 3.99}\n'
        notify = (
            "notify:\n"
            "  - {name: j, url_env: HOOK_JSON, events: [deleted]}\n"
            "  - {name: s, url_env: HOOK_SLACK, format: slack, events: [deleted]}\n"
        )
        connection = {"base_url": sim.base_url("mistral"), "requests_per_minute": TEST_PACE}
        jobs = one_job("cleanup", ["{provider: mistral, match_all: true}"])
        path = write_job(
            tmp_path, job_yaml({"mistral": connection}, jobs, f"prices:\n{prices}{notify}")
        )
        metrics = tmp_path / "metrics.prom"
        code, out, err = cli(
            capsys, "run", path, "--yes", "--now", NOW_ARG, "--metrics-file", str(metrics)
        )
        assert code == 0, err
        said = "saves about $9.98/month"  # 3.99 + 3.99 + 2.00
        assert f"  {said}" in out.splitlines()
        records = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))
        (end,) = [r for r in records if r["event"] == "run.end"]
        assert (end["deleted"], end["estimated_monthly_savings"], end["unknown_cost"]) == (
            3,
            9.98,
            0,
        )
        # Each deleted item's outcome carries its own cost, and they add up to run.end's.
        costs = [r["monthly_cost"] for r in records if r["event"] == "delete.outcome"]
        assert sorted(costs) == [2.0, 3.99, 3.99]
        text = metrics.read_text()
        assert 'ftjanitor_estimated_monthly_savings_dollars{job="cleanup"} 9.98' in text
        assert 'ftjanitor_deleted_monthly_cost_dollars_total{job="cleanup"} 9.98' in text
        (body,) = hook_json.bodies
        assert (body["count"], body["estimated_monthly_savings"], body["unknown_cost"]) == (
            3,
            9.98,
            0,
        )
        (slack,) = hook_slack.bodies
        assert (
            slack["text"]
            .splitlines()[0]
            .startswith(f"ftjanitor job cleanup: 3 models deleted, {said} (run ")
        )
