"""fireworks's contract fixture (tests/test_provider_contract.py)."""

from tests import test_provider_fireworks as fw
from tests.cases import ProviderCase, Selection, seeded

CASE = ProviderCase(
    kind="fireworks",
    key=fw.KEY,
    accounts=seeded(fw.SEED),
    connection={"account_id": fw.ACCOUNT},
    selections=(
        Selection("{provider: fireworks, older_than: 30d}", frozenset(fw.OLD)),
    ),  # not the old upload still in progress
    present="exp-lora-a",
    absent="never-was",
    held=lambda accounts: set(accounts.fireworks[fw.ACCOUNT]),
    delete_path=lambda i: f"/fireworks/v1/accounts/{fw.ACCOUNT}/models/{i}",
    api="the Fireworks models API",
    list_path=f"/v1/accounts/{fw.ACCOUNT}/models",
    wrong_key_says="HTTP 401: unauthenticated: invalid API key",
    garbage_says="malformed page",
    demo_model="exp-lora-b",
    status_field="state",
    everything=frozenset(fw.ADDONS - {"old-upload"}),
    in_progress=Selection("{provider: fireworks, status: [UPLOADING]}", frozenset({"old-upload"})),
    bases=frozenset({"my-base", "my-custom", "no-kind"}),
    listed=frozenset(fw.ADDONS),
    base_by_id="absent",
)
