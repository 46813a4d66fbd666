"""cohere's contract fixture (tests/test_provider_contract.py)."""

from tests.cases import ProviderCase, Selection
from tests.conftest import COHERE_KEY, seed_accounts

COHERE_EXP = {"sim-cohere-0002", "sim-cohere-0003", "sim-cohere-0004"}

CASE = ProviderCase(
    kind="cohere",
    key=COHERE_KEY,
    accounts=seed_accounts,
    selections=(
        Selection(
            '{provider: cohere, name: "exp-*", older_than: 30d, keep_latest: 2,'
            " protect: [sim-cohere-0001]}",
            frozenset(COHERE_EXP),
        ),
    ),
    present="sim-cohere-0002",
    absent="sim-cohere-9999",
    held=lambda accounts: set(accounts.cohere),
    delete_path=lambda i: f"/cohere/v1/finetuning/finetuned-models/{i}",
    api="the Cohere fine-tuning API",
    list_path="/v1/finetuning/finetuned-models",
    wrong_key_says="HTTP 401: invalid api token",
    garbage_says="malformed page",
    demo_model="sim-cohere-0008",
    status_field="status",
    everything=frozenset(
        f"sim-cohere-{i:04d}" for i in range(1, 13) if i not in (10, 11)
    ),  # 0010 is fine-tuning, 0011 already deleted
    in_progress=Selection(
        "{provider: cohere, status: [STATUS_FINETUNING]}", frozenset({"sim-cohere-0010"})
    ),
)
