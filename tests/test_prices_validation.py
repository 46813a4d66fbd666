"""Hostile ``prices:`` and ``min_monthly_cost:`` in a job file: each problem is one line at
its own line and column, exit 2, and what validates is held exactly (Decimal)."""

from decimal import Decimal
from pathlib import Path

import pytest

from runner.cost import PriceFact, PriceOverride
from runner.jobfile.validate import load_job_file
from tests.helpers import cli, write_job

HEAD = "version: 1\nprices:\n"
JOBS = "jobs:\n  - name: j\n    targets:\n      - {provider: mistral, match_all: true}\n"

# (entry, path of the problem, what the message says): one per line of prices:, in order.
HOSTILE = [
    ('{type: mistral, per_month: "3.99"}', "prices[0].per_month", "is not a price in dollars"),
    ("{type: mistral, per_hour: -1}", "prices[1].per_hour", "-1 is not a price in dollars"),
    ("{type: mistral, per_hour: true}", "prices[2].per_hour", "true is not a price in dollars"),
    ("{type: mistral, per_hour: .nan}", "prices[3].per_hour", "not a finite number"),
    ("{type: mistral, per_hour: .inf}", "prices[4].per_hour", "is not a price in dollars"),
    ("{type: mistral, per_hour: 1, per_month: 2}", "prices[5].per_month", "not both"),
    ("{type: mistral}", "prices[6]", "give one price: per_hour or per_month"),
    ("{type: mistral, per_day: 2}", "prices[7].per_day", "unknown field 'per_day'"),
    ("{type: nope, per_hour: 2}", "prices[8].type", "'nope' matches no provider type"),
    ("{type: mistral, kind: deploy, per_hour: 2}", "prices[9].kind", "matches no kind of mistral"),
    ('{hardware: "a\\u0007b", per_hour: 2}', "prices[10].hardware", "is not a glob"),
    ("{type: [mistral], per_month: 2}", "prices[11].type", "is not a glob"),
    ("{type: mistral, per_month: 1000001}", "prices[12].per_month", "is not a price"),
    # A selector the matched kinds do not carry would silently price nothing.
    (
        "{type: together, kind: deployment, accelerator: A100, per_hour: 2}",
        "prices[13].accelerator",
        "no together deployment item carries accelerator, so this never matches (what they"
        " carry: hardware)",
    ),
    ("{type: bfl, base_model: x, per_hour: 2}", "prices[14].base_model", "(what they carry: only"),
    ("{type: mistral, per_hour: 1.0e-300}", "prices[15].per_hour", "is finer than any price"),
    (
        "{type: mistral, per_hour: 0.0000015}",
        "prices[16].per_hour",
        "the finest is 0.000001 dollars",
    ),
]


def test_each_hostile_price_is_one_line_at_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = "".join(f"  - {entry}\n" for entry, _, _ in HOSTILE)
    path = write_job(tmp_path, HEAD + entries + JOBS)
    code, out, err = cli(capsys, "validate", path)
    assert code == 2
    lines = [line for line in (out + err).splitlines() if line.startswith(path)]
    assert len(lines) == len(HOSTILE), out + err
    for index, (line, (_, where, says)) in enumerate(zip(lines, HOSTILE, strict=True)):
        assert line.startswith(f"{path}:{3 + index}:"), line
        assert f": {where}: " in line and says in line, line
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "value, says",
    [("-1", "is not a price in dollars"), ('"10"', "is not a price in dollars"),
     ("true", "is not a price in dollars"), (".nan", "not a finite number")],
)  # fmt: skip
def test_a_hostile_min_monthly_cost_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, says: str
) -> None:
    text = f"version: 1\njobs:\n  - name: j\n    targets:\n      - provider: mistral\n        min_monthly_cost: {value}\n"
    path = write_job(tmp_path, text)
    code, out, err = cli(capsys, "validate", path)
    assert code == 2
    (line,) = [line for line in (out + err).splitlines() if line.startswith(path)]
    assert line.startswith(f"{path}:6:9: jobs[0].targets[0].min_monthly_cost: ") and says in line


def test_what_validates_is_held_exactly_and_in_order(tmp_path: Path) -> None:
    entries = (
        '  - {type: together, hardware: "*h100*", per_hour: 3.99}\n'
        "  - {kind: model, per_month: 0.1}\n"
        "  - {type: fireworks, base_model: 'meta.*', accelerator: '*', per_month: 7}\n"
    )
    loaded = load_job_file(write_job(tmp_path, HEAD + entries + JOBS))
    assert loaded.prices == (
        PriceOverride(
            PriceFact(per_hour=Decimal("3.99"), source="prices[0]"),
            0,
            type="together",
            hardware="*h100*",
        ),
        PriceOverride(PriceFact(per_month=Decimal("0.1"), source="prices[1]"), 1, kind="model"),
        PriceOverride(
            PriceFact(per_month=Decimal(7), source="prices[2]"),
            2,
            type="fireworks",
            base_model="meta.*",
            accelerator="*",
        ),
    )
    target = loaded.jobs[0].targets[0]
    assert target.min_monthly_cost is None  # a rule the target lacks reads as empty
    rule = "      - {provider: mistral, min_monthly_cost: 12.30}\n"
    loaded = load_job_file(
        write_job(tmp_path, "version: 1\njobs:\n  - name: j\n    targets:\n" + rule)
    )
    assert loaded.jobs[0].targets[0].min_monthly_cost == Decimal("12.3")
