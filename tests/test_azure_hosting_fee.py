"""An Azure OpenAI deployment's hosting fee follows its SKU, as Microsoft's fine-tuning
cost page gives it: Standard and Global Standard $1.70 an hour, Developer Tier nothing,
provisioned throughput (PTU-hours at the customer's own rate) and any other SKU unknown."""

from decimal import Decimal
from typing import Any

import pytest

from runner.providers import REGISTRY
from runner.providers.azure_openai_deployment import DEPLOYMENT
from runner.providers.mapping import map_records
from runner.rules import priced

KIND = REGISTRY["azure_openai"].kinds["deployment"]
FINE_TUNE = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"
MONTH = Decimal("1.70") * 730


def deployment(model: str, sku: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": "dep-1",
        "properties": {"model": {"name": model}, "provisioningState": "Succeeded"},
        "systemData": {"createdAt": "2026-01-01T00:00:00Z"},
    }
    if sku is not None:
        item["sku"] = sku
    return item


@pytest.mark.parametrize(
    ("model", "sku", "monthly"),
    [
        (FINE_TUNE, {"name": "Standard", "capacity": 1}, MONTH),
        (FINE_TUNE, {"name": "GlobalStandard", "capacity": 5}, MONTH),  # per deployment
        (FINE_TUNE, {"name": "developertier", "capacity": 50}, Decimal(0)),
        (FINE_TUNE, {"name": "ProvisionedManaged", "capacity": 25}, None),
        (FINE_TUNE, {"name": "SomethingNew"}, None),
        (FINE_TUNE, {"name": 7}, None),
        (FINE_TUNE, "Standard", None),
        (FINE_TUNE, None, None),
        ("gpt-4o-mini", {"name": "Standard"}, Decimal(0)),  # a base model: per token
    ],
)
def test_the_fee_follows_the_sku(model: str, sku: Any, monthly: Decimal | None) -> None:
    [record] = priced(list(map_records(DEPLOYMENT, [deployment(model, sku)], KIND)), KIND, ())
    assert record.monthly_cost == monthly
    assert bool(record.cost_basis)
