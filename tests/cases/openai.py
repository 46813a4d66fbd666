"""openai's contract fixture (tests/test_provider_contract.py)."""

from tests import test_provider_openai as oa
from tests.cases import ProviderCase, Selection
from tests.conftest import seed_accounts

CASE = ProviderCase(
    kind="openai",
    key=oa.KEY,
    accounts=seed_accounts,
    selections=(
        Selection(
            '{provider: openai, name: "exp-*", older_than: 30d}',
            frozenset({oa.BASELINE, oa.LR_1, oa.LR_2}),  # exp-latest is 2 days old
            {oa.LR_1: "older_than 30d: created 2026-03-13, 80d ago; name matches 'exp-*'"},
        ),
        Selection(
            '{provider: openai, older_than: 30d, protect: ["prod-router"]}',
            frozenset({oa.BASELINE, oa.LR_1, oa.LR_2, oa.SUPPORT}),  # protected by name
        ),
    ),
    present=oa.LR_2,
    absent="ft:gpt-4o:acme:never:Nope0000",
    held=lambda accounts: set(accounts.openai),
    delete_path=lambda i: f"/openai/v1/models/{i}",
    api="the OpenAI models API",
    list_path="/v1/models",
    wrong_key_says="HTTP 401: Incorrect API key provided.",
    garbage_says="malformed body",
    demo_model="ft:gpt-4o-mini-2024-07-18:acme:exp-lr-1:Sim0002b",
    everything=frozenset(oa.FINE_TUNES),
    bases=frozenset(oa.BASES),
    listed=frozenset(oa.FINE_TUNES),
    base_by_id="invalid",
    base_by_id_says="OpenAI fine-tune IDs start with 'ft:'",
)
