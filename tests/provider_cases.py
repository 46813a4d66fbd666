"""One fixture per provider type for the shared contract (tests/test_provider_contract.py):
its seed, key, job snippets and IDs. A new provider type is tested by adding a case here;
what only one provider does stays in its own test file."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner.simulator import Accounts, load_seed
from tests import test_provider_fireworks as fw
from tests import test_provider_mistral as mi
from tests import test_provider_openai as oa
from tests import test_provider_together as tg
from tests.conftest import BFL_KEY, COHERE_KEY, NOW, seed_accounts


@dataclass(frozen=True)
class Selection:
    """A target and exactly what it selects; ``reasons``: ID -> the plan's reason for it."""

    target: str
    selects: frozenset[str]
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderCase:
    kind: str
    key: str
    accounts: Callable[[], Accounts]
    # Plans that must be exact; the last one is also run and must delete exactly its plan.
    selections: tuple[Selection, ...]
    present: str  # a listed model: a 404 that does not name it never proves it gone
    absent: str  # never listed: the provider's own not-found for it is already_absent
    held: Callable[[Accounts], set[str]]  # every ID the simulator holds, listed or not
    delete_path: Callable[[str], str]  # where a model's delete is sent, under the mount
    api: str  # how a list failure names the API, and the list's path: "the X API", "/v1/..."
    list_path: str
    wrong_key_says: str  # the provider's own words for a key it refuses
    garbage_says: str  # a list answer that is not JSON: "malformed page" or "malformed body"
    connection: Mapping[str, object] = field(default_factory=dict)
    variants: tuple[Mapping[str, str], ...] = ({},)  # error shapes the provider may answer in
    # What {match_all: true} selects: never an in-progress model, never a base model.
    everything: frozenset[str] = frozenset()
    # In-progress models: selected only by a status: rule naming their status.
    in_progress: Selection | None = None
    bases: frozenset[str] = frozenset()  # base models: never candidates, never deleted
    listed: frozenset[str] = frozenset()  # with bases: what {match_all: true} decides about
    # A base model named in ids: "invalid" (validate refuses, saying this) or "absent".
    base_by_id: str = ""
    base_by_id_says: str = ""
    # A delete's error when a path the provider does not serve answers 404, and when its own
    # delete path answers a 404 that does not name the model (BFL asks its list instead).
    bare_404_says: str = "(a 404 that does not name the model: is the API retired?)"
    injected_404_says: str = "(a 404 that does not name the model: is the API retired?)"
    delete_method: str = "DELETE"


def _seeded(seed: Mapping[str, object]) -> Callable[[], Accounts]:
    return lambda: load_seed(dict(seed), NOW)


COHERE_EXP = {"sim-cohere-0002", "sim-cohere-0003", "sim-cohere-0004"}

CASES: tuple[ProviderCase, ...] = (
    ProviderCase(
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
        everything=frozenset(
            f"sim-cohere-{i:04d}" for i in range(1, 13) if i not in (10, 11)
        ),  # 0010 is fine-tuning, 0011 already deleted
        in_progress=Selection(
            "{provider: cohere, status: [STATUS_FINETUNING]}", frozenset({"sim-cohere-0010"})
        ),
    ),
    ProviderCase(
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
    ),
    ProviderCase(
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
        everything=frozenset(oa.FINE_TUNES),
        bases=frozenset(oa.BASES),
        listed=frozenset(oa.FINE_TUNES),
        base_by_id="invalid",
        base_by_id_says="OpenAI fine-tune IDs start with 'ft:'",
    ),
    ProviderCase(
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
        variants=({"mistral": "object"}, {"mistral": "detail"}),
        everything=frozenset(mi.FINE_TUNES),
        bases=frozenset(mi.BASES),
        listed=frozenset(mi.FINE_TUNES),
        base_by_id="absent",
    ),
    ProviderCase(
        kind="together",
        key=tg.KEY,
        accounts=_seeded(tg.SEED),
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
        everything=frozenset({f"ft-job-000{i}" for i in range(1, 9)} - tg.IN_PROGRESS),
        in_progress=Selection(
            "{provider: together, status: [running]}", frozenset({"ft-job-0004"})
        ),
    ),
    ProviderCase(
        kind="fireworks",
        key=fw.KEY,
        accounts=_seeded(fw.SEED),
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
        everything=frozenset(fw.ADDONS - {"old-upload"}),
        in_progress=Selection(
            "{provider: fireworks, status: [UPLOADING]}", frozenset({"old-upload"})
        ),
        bases=frozenset({"my-base", "my-custom", "no-kind"}),
        listed=frozenset(fw.ADDONS),
        base_by_id="absent",
    ),
)
# Provider types whose contract is kept by their own file, with the reason.
ELSEWHERE = {"bedrock": "AWS SDK against moto's server, not the simulator: tests/test_bedrock.py"}
