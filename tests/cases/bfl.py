"""bfl's contract fixture (tests/test_provider_contract.py)."""

from tests.cases import ProviderCase, Selection
from tests.conftest import BFL_KEY, seed_accounts

CASE = ProviderCase(
    kind="bfl",
    key=BFL_KEY,
    accounts=seed_accounts,
    selections=(
        Selection(
            "{provider: bfl, ids: [scratch-lora-1, scratch-lora-2, never-existed]}",
            frozenset({"scratch-lora-1", "scratch-lora-2"}),
        ),
    ),
    present="scratch-lora-1",
    absent="never-existed",
    held=lambda accounts: set(accounts.bfl),
    delete_path=lambda _: "/bfl/v1/delete_finetune",  # the ID travels in the body
    api="the BFL finetune API",
    list_path="/v1/my_finetunes",
    wrong_key_says="HTTP 403: Invalid API key",
    garbage_says="malformed body",
    demo_model="scratch-lora-1",
    everything=frozenset(
        {
            "scratch-lora-1",
            "scratch-lora-2",
            "brand-style-lora",
            "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
        }
    ),
    bare_404_says="it looks retired, or base_url is not a regional host",
    injected_404_says="HTTP 404 but still listed",
    delete_method="POST",
)
