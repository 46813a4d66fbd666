"""The simulator's wire formats, proved with each provider's own official SDK.

Versions this was written against: openai 3.54, mistralai 3.7, together 2.42,
fireworks-ai 1.2.28, cohere 7.3.1. Each SDK talks to its provider's mount,
``sim.base_url(type)``: the simulator satisfies the SDK, not the other way round. A missing
SDK skips its tests.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runner.simulator import Simulator, load_seed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEYS = {
    "openai": "sk-sim-openai-3f9a",
    "mistral": "sim-mistral-77c1",
    "together": "sim-together-0b2e",
    "fireworks": "fw-sim-5d8a",
    "cohere": "co-sim-91aa",
}
OPENAI_FT = "ft:gpt-4o-mini-2024-07-18:acme:exp-7:AbC123xy"
MISTRAL_FT = "ft:open-mistral-7b:abcd1234:20260101:my-model:efgh5678"
TOGETHER_JOB = "ft-5c3d0a2e-0001-4a7b-9c1d-000000000001"
SEED: dict[str, Any] = {
    "openai": [
        {"id": "gpt-4o-mini-2024-07-18", "age_days": 500},
        {"id": OPENAI_FT, "age_days": 40},
        {"id": "ft:gpt-4o-mini-2024-07-18:acme:exp-8:ZzY987wv", "age_days": 3},
    ],
    "mistral": [
        {"id": "open-mistral-7b", "age_days": 700},
        {"id": MISTRAL_FT, "name": "my-model", "age_days": 90},
        {"id": "ft:open-mistral-7b:abcd1234:20260301:x:ijkl9012", "name": None, "age_days": 2},
    ],
    "together": [
        {"id": TOGETHER_JOB, "suffix": "exp-1", "age_days": 70},
        {"id": "ft-5c3d0a2e-0002-4a7b-9c1d-000000000002", "status": "running", "age_days": 1},
    ],
    "fireworks": [{"id": f"lora-{i:03d}", "age_days": i} for i in range(120)],
    "cohere": [{"id": "sim-cohere-0001", "name": "exp-a", "age_days": 50}],
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), keys=KEYS) as server:
        yield server


def test_openai_sdk(sim: Simulator) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(
        api_key=KEYS["openai"], base_url=sim.base_url("openai") + "/v1", max_retries=0
    )
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {m["id"] for m in SEED["openai"]}
    assert models[OPENAI_FT].created == int((NOW - timedelta(days=40)).timestamp())
    assert (models[OPENAI_FT].object, models[OPENAI_FT].owned_by) == ("model", "sim-org")

    deleted = client.models.delete(OPENAI_FT)
    assert isinstance(deleted, openai.types.ModelDeleted)
    assert (deleted.id, deleted.deleted, deleted.object) == (OPENAI_FT, True, "model")
    assert sim.deleted == [("openai", OPENAI_FT)]

    with pytest.raises(openai.NotFoundError) as caught:
        client.models.delete(OPENAI_FT)
    assert caught.value.status_code == 404 and caught.value.code == "model_not_found"
    assert caught.value.response.json() == {
        "error": {
            "message": f"The model '{OPENAI_FT}' does not exist",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    # An unknown path is a 404 too, but without the code that proves a model is absent.
    with pytest.raises(openai.NotFoundError) as caught:
        client.delete("/fine-tunes/x", cast_to=object)
    assert caught.value.code is None
    assert caught.value.message.endswith("Invalid URL (DELETE /v1/fine-tunes/x)")

    wrong = openai.OpenAI(api_key="sk-wrong", base_url=client.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.models.list()
    assert denied.value.status_code == 401 and denied.value.code == "invalid_api_key"


def test_openai_sdk_pages_jobs_and_jobs_outlive_models(sim: Simulator) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(
        api_key=KEYS["openai"], base_url=sim.base_url("openai") + "/v1", max_retries=0
    )
    client.models.delete(OPENAI_FT)
    jobs = list(client.fine_tuning.jobs.list(limit=1))  # one job per page: the cursor pages
    assert [job.fine_tuned_model for job in jobs] == [
        "ft:gpt-4o-mini-2024-07-18:acme:exp-8:ZzY987wv",  # newest first
        OPENAI_FT,  # its model is gone; the job stays as it was
    ]
    assert all(job.status == "succeeded" and job.model == "gpt-4o-mini-2024-07-18" for job in jobs)
    assert [r.path for r in sim.requests[1:]] == ["/openai/v1/fine_tuning/jobs"] * 2


def test_mistral_sdk(sim: Simulator) -> None:
    pytest.importorskip("mistralai")
    from mistralai.client import Mistral, models
    from mistralai.client.errors import SDKError

    client = Mistral(api_key=KEYS["mistral"], server_url=sim.base_url("mistral"))
    cards = client.models.list().data or []
    assert [type(card) for card in cards] == [
        models.BaseModelCard,
        models.FTModelCard,
        models.FTModelCard,
    ]
    fine_tuned = cards[1]
    assert isinstance(fine_tuned, models.FTModelCard)
    assert (fine_tuned.id, fine_tuned.name, fine_tuned.root) == (
        MISTRAL_FT,
        "my-model",
        "open-mistral-7b",
    )
    assert fine_tuned.created == int((NOW - timedelta(days=90)).timestamp())
    assert fine_tuned.archived is False and fine_tuned.job
    nameless = cards[2]
    assert isinstance(nameless, models.FTModelCard) and nameless.name is None

    deleted = client.models.delete(model_id=MISTRAL_FT)
    assert isinstance(deleted, models.DeleteModelResponse)
    assert (deleted.id, deleted.deleted) == (MISTRAL_FT, True)
    assert sim.deleted == [("mistral", MISTRAL_FT)]

    # The SDK has no not-found class: every 4xx but 422 is its SDKError.
    with pytest.raises(SDKError) as caught:
        client.models.delete(model_id=MISTRAL_FT)
    assert caught.value.status_code == 404
    assert json.loads(caught.value.body) == {
        "object": "error",
        "message": f"Model '{MISTRAL_FT}' not found",
        "type": "invalid_request_error",
        "code": "model_not_found",
    }

    with pytest.raises(SDKError) as denied:
        Mistral(api_key="wrong", server_url=sim.base_url("mistral")).models.list()
    assert denied.value.status_code == 401


def test_mistral_sdk_with_fastapi_style_errors() -> None:
    pytest.importorskip("mistralai")
    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError

    with Simulator(load_seed(SEED, NOW), variants={"mistral": "detail"}) as sim:
        client = Mistral(api_key="any", server_url=sim.base_url("mistral"))
        with pytest.raises(SDKError) as caught:
            client.models.delete(model_id="ft:nope")
    assert caught.value.status_code == 404
    assert json.loads(caught.value.body) == {"detail": "Model 'ft:nope' not found"}


def test_together_sdk(sim: Simulator) -> None:
    together = pytest.importorskip("together")
    # together 2.x's base URL ends in /v1, as OpenAI's does (3.x put /v1 in its own paths).
    client = together.Together(
        api_key=KEYS["together"], base_url=sim.base_url("together") + "/v1", max_retries=0
    )
    jobs = {job.id: job for job in client.fine_tuning.list().data}
    assert set(jobs) == {j["id"] for j in SEED["together"]}
    job = jobs[TOGETHER_JOB]
    assert (job.status, job.suffix, job.model) == (
        "completed",
        "exp-1",
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    )
    assert job.created_at == NOW - timedelta(days=70)
    assert job.x_model_output_name  # the SDK's name for model_output_name

    deleted = client.fine_tuning.delete(TOGETHER_JOB)
    assert isinstance(deleted, together.types.FineTuningDeleteResponse) and deleted.message
    assert sim.deleted == [("together", TOGETHER_JOB)]

    with pytest.raises(together.NotFoundError) as caught:
        client.fine_tuning.delete(TOGETHER_JOB)
    assert caught.value.status_code == 404
    assert caught.value.body == {
        "error": {
            "message": f"Fine-tune job '{TOGETHER_JOB}' not found",
            "type": "invalid_request_error",
            "param": "id",
            "code": "not_found",
        }
    }

    wrong = together.Together(api_key="wrong", base_url=client.base_url, max_retries=0)
    with pytest.raises(together.AuthenticationError) as denied:
        wrong.fine_tuning.list()
    assert denied.value.status_code == 401


def test_fireworks_sdk(sim: Simulator) -> None:
    fireworks = pytest.importorskip("fireworks")
    client = fireworks.Fireworks(
        api_key=KEYS["fireworks"],
        account_id="sim-account",
        base_url=sim.base_url("fireworks"),
        max_retries=0,
    )
    listed = list(client.models.list())  # the SDK follows nextPageToken itself
    assert [m.name for m in listed] == [
        f"accounts/sim-account/models/lora-{i:03d}" for i in range(120)
    ]
    assert len(sim.requests) == 3  # pages of the default 50
    first = listed[0]
    assert (first.state, first.kind, first.display_name) == ("READY", "HF_PEFT_ADDON", "lora-000")
    assert first.peft_details is not None and first.peft_details.base_model.startswith("accounts/")
    assert first.create_time == NOW

    assert client.models.delete("lora-007") == {}
    assert sim.deleted == [("fireworks", "lora-007")]

    with pytest.raises(fireworks.NotFoundError) as caught:
        client.models.delete("lora-007")
    assert caught.value.status_code == 404
    assert caught.value.body == {
        "code": 5,
        "message": "model accounts/sim-account/models/lora-007 not found",
    }
    with pytest.raises(fireworks.NotFoundError):
        client.models.delete("lora-001", account_id="someone-else")

    wrong = fireworks.Fireworks(
        api_key="wrong", account_id="sim-account", base_url=sim.base_url("fireworks"), max_retries=0
    )
    with pytest.raises(fireworks.AuthenticationError) as denied:
        list(wrong.models.list())
    assert denied.value.status_code == 401


@pytest.mark.parametrize("mount", ["root", "prefix"])
def test_cohere_sdk_at_the_root_and_under_its_mount(sim: Simulator, mount: str) -> None:
    cohere = pytest.importorskip("cohere")
    base_url = sim.url if mount == "root" else sim.base_url("cohere")
    client = cohere.Client(api_key=KEYS["cohere"], base_url=base_url, max_retries=0)
    page = client.finetuning.list_finetuned_models()
    assert [m.id for m in page.finetuned_models or []] == ["sim-cohere-0001"]
    client.finetuning.delete_finetuned_model("sim-cohere-0001")
    assert sim.deleted == [("cohere", "sim-cohere-0001")]
    with pytest.raises(cohere.NotFoundError):
        client.finetuning.delete_finetuned_model("sim-cohere-0001")
    wrong = cohere.Client(api_key="wrong", base_url=base_url, max_retries=0)
    with pytest.raises(cohere.UnauthorizedError):
        wrong.finetuning.list_finetuned_models()
