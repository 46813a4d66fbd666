"""together's contract fixture (tests/test_provider_contract.py)."""

from tests import test_provider_together as tg
from tests.cases import ProviderCase, Selection, seeded

CASE = ProviderCase(
    kind="together",
    key=tg.KEY,
    accounts=seeded(tg.SEED),
    selections=(
        Selection("{provider: together, older_than: 30d}", frozenset(tg.OLD)),
    ),  # not the running and queued ones, though old
    present="ft-job-0001",
    absent="ft-job-9999",
    held=lambda accounts: set(accounts.together),
    delete_path=lambda i: f"/together/v1/fine-tunes/{i}",
    api="the Together fine-tunes API",
    list_path="/v1/fine-tunes",
    wrong_key_says="HTTP 401: Invalid API key provided.",
    garbage_says="malformed body",
    demo_model="ft-5c3d0a2e-0002-4a7b-9c1d-000000000002",
    status_field="status",
    everything=frozenset({f"ft-job-000{i}" for i in range(1, 9)} - tg.IN_PROGRESS),
    in_progress=Selection("{provider: together, status: [running]}", frozenset({"ft-job-0004"})),
)
