"""mistral's contract fixture (tests/test_provider_contract.py)."""

from tests import test_provider_mistral as mi
from tests.cases import ProviderCase, Selection
from tests.conftest import seed_accounts

CASE = ProviderCase(
    kind="mistral",
    key=mi.KEY,
    accounts=seed_accounts,
    selections=(
        Selection(
            "{provider: mistral, older_than: 10d}",
            frozenset({mi.CHAT, mi.SUPPORT}),  # exp-new is a day old
            {mi.CHAT: "older_than 10d: created 2026-03-03, 90d ago"},
        ),
        Selection(
            "{provider: mistral, older_than: 10d, keep_latest: 1}",
            frozenset({mi.CHAT}),  # support-v2 is the newest match, kept
        ),
    ),
    present=mi.SUPPORT,
    absent="ft:open-mistral-7b:never:x",
    held=lambda accounts: set(accounts.mistral),
    delete_path=lambda i: f"/mistral/v1/models/{i}",
    api="the Mistral models API",
    list_path="/v1/models",
    wrong_key_says="HTTP 401: Unauthorized",
    garbage_says="malformed body",
    demo_model="ft:open-mistral-7b:abcd1234:20260101:exp-chat:efgh5678",
    variants=({"mistral": "object"}, {"mistral": "detail"}),
    everything=frozenset(mi.FINE_TUNES),
    bases=frozenset(mi.BASES),
    listed=frozenset(mi.FINE_TUNES),
    base_by_id="absent",
)
