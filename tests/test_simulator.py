"""The simulator itself over raw HTTP: mounts, the mutating flag, IDs in paths, paging,
faults, auth and seeds of the wire formats the official-SDK tests do not reach."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from runner.simulator import Accounts, Fault, Simulator, generate, load_seed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OPENAI_FT = "ft:gpt-4o-mini-2024-07-18:acme:exp-7:AbC123xy"
SEED: dict[str, Any] = {
    "cohere": [{"id": "co-1", "age_days": 40}],
    "bfl": ["lora-a", "lora-b"],
    "openai": [{"id": "gpt-4o-mini-2024-07-18"}, {"id": OPENAI_FT, "age_days": 10}],
    "mistral": [{"id": "open-mistral-7b"}, {"id": "ft:open-mistral-7b:ab:20260101:m:cd"}],
    "together": [{"id": "ft-1"}, {"id": "ft-2"}],
    "fireworks": [{"id": "lora-1"}, {"id": "lora-2"}],
}


def call(sim: Simulator, method: str, path: str, key: str = "k", **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", "x-key": key}
    return requests.request(method, sim.url + path, headers=headers, timeout=5, **kw)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


def test_every_type_has_its_mount_and_cohere_and_bfl_keep_the_root(sim: Simulator) -> None:
    cohere = "/v1/finetuning/finetuned-models"
    assert call(sim, "GET", cohere).json() == call(sim, "GET", "/cohere" + cohere).json()
    assert call(sim, "GET", "/v1/my_finetunes").json() == {"finetunes": ["lora-a", "lora-b"]}
    assert call(sim, "GET", "/bfl/v1/my_finetunes").json() == {"finetunes": ["lora-a", "lora-b"]}
    # /v1/models is OpenAI's and Mistral's: at the root it is neither, only Cohere's 404.
    root = call(sim, "GET", "/v1/models")
    assert (root.status_code, root.json()) == (404, {"message": "Not Found"})
    assert [m["id"] for m in call(sim, "GET", "/openai/v1/models").json()["data"]] == [
        "gpt-4o-mini-2024-07-18",
        OPENAI_FT,
    ]
    assert [c["type"] for c in call(sim, "GET", "/mistral/v1/models").json()["data"]] == [
        "base",
        "fine-tuned",
    ]
    apis = ["cohere", "cohere", "bfl", "bfl", "cohere", "openai", "mistral"]
    assert [r.api for r in sim.requests] == apis
    assert sim.base_url("fireworks") == sim.url + "/fireworks"
    with pytest.raises(ValueError, match="unknown provider type 'vertex'"):
        sim.base_url("vertex")


def test_every_mutating_request_is_flagged(sim: Simulator) -> None:
    deletes = [
        "/openai/v1/models/" + OPENAI_FT,
        "/openai/v1/models/ft:unknown",
        "/openai/v1/no/such/path",
        "/mistral/v1/models/ft:open-mistral-7b:ab:20260101:m:cd",
        "/together/v1/fine-tunes/ft-1",
        "/fireworks/v1/accounts/sim-account/models/lora-1",
        "/fireworks/v1/accounts/nobody/models/lora-2",
        "/v1/finetuning/finetuned-models/co-1",
        "/bfl/v1/anything",
    ]
    for path in deletes:
        call(sim, "DELETE", path)
    for path in ("/v1/delete_finetune", "/bfl/v1/delete_finetune"):
        call(sim, "POST", path, json={"finetune_id": "lora-a"})
    for path in ("/openai/v1/models", "/bfl/v1/my_finetunes", "/fireworks/v1/accounts/x/models"):
        call(sim, "GET", path)
    call(sim, "POST", "/mistral/v1/fine_tuning/models/x/archive")  # not served, still a write
    flagged = [(r.method, r.path) for r in sim.requests if r.mutating]
    assert flagged == [("DELETE", p) for p in deletes] + [
        ("POST", "/v1/delete_finetune"),
        ("POST", "/bfl/v1/delete_finetune"),
        ("POST", "/mistral/v1/fine_tuning/models/x/archive"),
    ]
    assert sim.mutations() == [r for r in sim.requests if r.mutating]
    kinds = ["openai", "mistral", "together", "fireworks", "cohere", "bfl"]
    assert [kind for kind, _ in sim.deleted] == kinds


def test_percent_encoded_ids_are_decoded(sim: Simulator) -> None:
    encoded = OPENAI_FT.replace(":", "%3A")
    answer = call(sim, "DELETE", f"/openai/v1/models/{encoded}")
    assert (answer.status_code, answer.json()["id"]) == (200, OPENAI_FT)
    assert call(sim, "DELETE", "/fireworks/v1/accounts/sim-account/models/lora%2D2").json() == {}
    assert call(sim, "DELETE", "/together/v1/fine-tunes/ft%2D1").status_code == 200
    assert sim.deleted == [("openai", OPENAI_FT), ("fireworks", "lora-2"), ("together", "ft-1")]
    # An encoded slash stays inside the one segment: a not-found that names "a/b".
    gone = call(sim, "DELETE", "/openai/v1/models/a%2Fb").json()["error"]
    assert (gone["code"], gone["message"]) == ("model_not_found", "The model 'a/b' does not exist")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/openai/v1/models/ft:x/y",
            {
                "error": {
                    "message": "Invalid URL (DELETE /v1/models/ft:x/y)",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        ("/mistral/v1/models/ft:x/y", {"detail": "Not Found"}),
        (
            "/together/v1/fine-tunes/ft-x/y",
            {
                "error": {
                    "message": "Not Found",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        ("/fireworks/v1/accounts/sim-account/models/x/y", {"code": 5, "message": "Not Found"}),
        ("/v1/finetuning/finetuned-models/x/y", {"message": "Not Found"}),
    ],
)
def test_a_raw_slash_in_an_id_is_an_unknown_path(
    sim: Simulator, path: str, body: dict[str, Any]
) -> None:
    answer = call(sim, "DELETE", path)
    assert (answer.status_code, answer.json()) == (404, body)
    assert sim.deleted == []


def fireworks_sim(count: int, **options: Any) -> Simulator:
    seed = {"fireworks": [{"id": f"m-{i:04d}"} for i in range(count)]}
    return Simulator(load_seed(seed, NOW), **options)


def page(sim: Simulator, query: str = "") -> dict[str, Any]:
    answer = call(sim, "GET", f"/fireworks/v1/accounts/sim-account/models{query}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_fireworks_pages_default_50_and_coerce_to_200() -> None:
    with fireworks_sim(450) as sim:
        first = page(sim)
        assert len(first["models"]) == 50 and first["totalSize"] == 450
        assert first["models"][0]["name"] == "accounts/sim-account/models/m-0000"
        assert len(page(sim, "?pageSize=1000")["models"]) == 200
        following = page(sim, f"?pageSize=1000&pageToken={first['nextPageToken']}")
        assert following["models"][0]["name"].endswith("/m-0050")
        last = page(sim, "?pageSize=450")
        assert len(last["models"]) == 200 and last["nextPageToken"]
        bad = call(sim, "GET", "/fireworks/v1/accounts/sim-account/models?pageSize=-1")
        assert (bad.status_code, bad.json()["code"]) == (400, 3)
        garbage = call(sim, "GET", "/fireworks/v1/accounts/sim-account/models?pageToken=%25%25")
        assert (garbage.status_code, garbage.json()["code"]) == (400, 3)
    with fireworks_sim(20, max_page_size=7) as sim:
        assert len(page(sim, "?pageSize=100")["models"]) == 7


def test_fireworks_paging_survives_deletes_between_pages() -> None:
    with fireworks_sim(30) as sim:
        seen: list[str] = []
        token = ""
        for _ in range(10):  # three pages are due; a token loop must not hang the test
            body = page(sim, f"?pageSize=10&pageToken={token}")
            names = [m["name"].rsplit("/", 1)[1] for m in body["models"]]
            seen += names
            call(sim, "DELETE", f"/fireworks/v1/accounts/sim-account/models/{names[0]}")
            token = body["nextPageToken"]
            if not token:
                break
        else:
            pytest.fail("paging never ended")
        assert seen == [f"m-{i:04d}" for i in range(30)]  # nothing skipped, nothing twice
        assert page(sim)["totalSize"] == 27


def test_repeat_token_repeats_the_first_page_token_of_the_faulted_type() -> None:
    accounts = generate(120, 0, NOW, fireworks=120)
    with Simulator(accounts, faults=[Fault("repeat_token", api="fireworks")]) as sim:
        first = page(sim)
        again = page(sim, f"?pageToken={first['nextPageToken']}")
        assert again["nextPageToken"] == first["nextPageToken"]
        assert again["models"] == first["models"]
        cohere = call(sim, "GET", "/v1/finetuning/finetuned-models?page_size=50").json()
        second = (
            "/v1/finetuning/finetuned-models?page_size=50&page_token=" + cohere["next_page_token"]
        )
        assert call(sim, "GET", second).json()["next_page_token"] != cohere["next_page_token"]


def test_fault_paths_match_with_or_without_the_mount_and_answer_in_each_shape(
    sim: Simulator,
) -> None:
    sim.faults = [Fault("status", path="/v1/models", status=503)]
    assert call(sim, "GET", "/openai/v1/models").json() == {
        "error": {
            "message": "simulated error 503",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    mistral = call(sim, "GET", "/mistral/v1/models")
    assert (mistral.status_code, mistral.json()["object"]) == (503, "error")
    assert call(sim, "GET", "/together/v1/fine-tunes").status_code == 200
    sim.faults = [Fault("status", path="/openai/v1/models", status=429, retry_after=7)]
    limited = call(sim, "GET", "/openai/v1/models")
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert call(sim, "GET", "/mistral/v1/models").status_code == 200
    sim.faults = [Fault("status", status=500, api="fireworks")]
    assert call(sim, "GET", "/fireworks/v1/accounts/sim-account/models").json() == {
        "code": 13,
        "message": "simulated error 500",
    }
    assert call(sim, "GET", "/together/v1/fine-tunes").status_code == 200
    with pytest.raises(ValueError, match="unknown provider type 'nope'"):
        Fault("status", api="nope")


def test_rate_limits_are_per_provider_type() -> None:
    with Simulator(load_seed(SEED, NOW), rate_limit=1, rate_limit_retry_after=3) as sim:
        assert call(sim, "GET", "/openai/v1/models").status_code == 200
        limited = call(sim, "GET", "/openai/v1/models")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
        assert call(sim, "GET", "/together/v1/fine-tunes").status_code == 200


def test_keys_per_type_and_the_old_keyword_arguments() -> None:
    keys = {"openai": "sk-right", "fireworks": "fw-right"}
    with Simulator(load_seed(SEED, NOW), keys=keys, cohere_key="co-right") as sim:
        assert sim.keys == {**keys, "cohere": "co-right"}
        assert call(sim, "GET", "/openai/v1/models", key="sk-right").status_code == 200
        wrong = call(sim, "GET", "/openai/v1/models", key="sk-wrong")
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
        assert "sk-wrong" not in wrong.text
        fireworks = call(sim, "GET", "/fireworks/v1/accounts/sim-account/models", key="x")
        assert fireworks.json() == {"code": 16, "message": "unauthenticated: invalid API key"}
        assert call(sim, "GET", "/v1/finetuning/finetuned-models", key="x").status_code == 401
        assert call(sim, "GET", "/mistral/v1/models", key="anything").status_code == 200
        bare = requests.get(sim.url + "/mistral/v1/models", timeout=5)
        assert (bare.status_code, bare.json()) == (401, {"detail": "Unauthorized"})
        bare = requests.get(sim.url + "/together/v1/fine-tunes", timeout=5)
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(ValueError, match="unknown provider type 'vertex'"):
        Simulator(keys={"vertex": "k"})
    with pytest.raises(ValueError, match="mistral has no error variant 'xml'"):
        Simulator(variants={"mistral": "xml"})


def test_base_models_are_not_deletable(sim: Simulator) -> None:
    openai = call(sim, "DELETE", "/openai/v1/models/gpt-4o-mini-2024-07-18")
    assert openai.status_code == 403 and openai.json()["error"]["code"] is None
    mistral = call(sim, "DELETE", "/mistral/v1/models/open-mistral-7b")
    assert mistral.status_code == 403
    assert sim.deleted == []


def test_openai_jobs_cursor(sim: Simulator) -> None:
    (job,) = call(sim, "GET", "/openai/v1/fine_tuning/jobs").json()["data"]
    assert (job["fine_tuned_model"], job["status"]) == (OPENAI_FT, "succeeded")
    assert job["finished_at"] == int((NOW - timedelta(days=10)).timestamp())
    after = call(sim, "GET", f"/openai/v1/fine_tuning/jobs?after={job['id']}").json()
    assert (after["data"], after["has_more"]) == ([], False)
    unknown = call(sim, "GET", "/openai/v1/fine_tuning/jobs?after=ftjob-nope")
    assert unknown.status_code == 400
    assert call(sim, "GET", "/openai/v1/fine_tuning/jobs?limit=x").status_code == 400


def test_seed_defaults_per_type() -> None:
    accounts = load_seed(SEED, NOW)
    at = int((NOW - timedelta(days=10)).timestamp())
    assert accounts.openai[OPENAI_FT] == {
        "id": OPENAI_FT,
        "object": "model",
        "created": at,
        "owned_by": "sim-org",
    }
    assert accounts.openai["gpt-4o-mini-2024-07-18"]["owned_by"] == "system"
    card = accounts.mistral["ft:open-mistral-7b:ab:20260101:m:cd"]
    assert (card["type"], card["root"], card["name"], card["archived"]) == (
        "fine-tuned",
        "open-mistral-7b",
        None,
        False,
    )
    assert accounts.mistral["open-mistral-7b"]["type"] == "base"
    job = accounts.together["ft-1"]
    assert (job["status"], job["created_at"]) == ("completed", "2026-06-01T12:00:00.000Z")
    model = accounts.fireworks["sim-account"]["lora-1"]
    assert model["name"] == "accounts/sim-account/models/lora-1"
    assert (model["state"], model["createTime"]) == ("READY", "2026-06-01T12:00:00.000000Z")
    assert "id" not in model and "account" not in model


def test_seed_overrides_make_hostile_items() -> None:
    seed = {
        "openai": [
            {"id": "ft:gpt-4o:acme:bell\x07:x", "created": 10**30, "drop": ["owned_by"]},
            {"id": 42},
        ],
        "mistral": [{"id": "ft:m:a:b:c:d", "name": "tab\there", "type": "fine-tuned-v2"}],
        "together": [{"id": "ft-h", "status": "user_error", "drop": ["created_at", "model"]}],
        "fireworks": [
            {"id": "x", "account": "other", "displayName": None, "drop": ["peftDetails"]}
        ],
    }
    accounts = load_seed(seed, NOW)
    assert accounts.openai["ft:gpt-4o:acme:bell\x07:x"] == {
        "id": "ft:gpt-4o:acme:bell\x07:x",
        "object": "model",
        "created": 10**30,
    }
    assert accounts.openai["42"]["id"] == 42
    assert accounts.mistral["ft:m:a:b:c:d"]["type"] == "fine-tuned-v2"
    assert {"created_at", "model"}.isdisjoint(accounts.together["ft-h"])
    assert accounts.fireworks["other"]["x"]["displayName"] is None
    assert "peftDetails" not in accounts.fireworks["other"]["x"]
    with Simulator(accounts) as sim:  # served as they are
        listed = call(sim, "GET", "/openai/v1/models").json()["data"]
        assert listed[0]["created"] == 10**30
        other = call(sim, "GET", "/fireworks/v1/accounts/other/models").json()
        assert other["totalSize"] == 1


def test_bad_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown provider type.*opneai"):
        load_seed({"opneai": []}, NOW)
    with pytest.raises(TypeError, match="a seed entry is a mapping"):
        load_seed({"together": ["ft-1"]}, NOW)
    with pytest.raises(TypeError, match="expected a list"):
        load_seed({"openai": {"id": "x"}}, NOW)


def test_generate_keeps_its_signature_and_each_type_its_own_stream() -> None:
    plain = generate(5, 2, NOW)
    more = generate(5, 2, NOW, 7, openai=3, mistral=2, together=4, fireworks=6)
    assert plain.cohere_order == more.cohere_order and list(plain.bfl) == list(more.bfl)
    assert sum(m.startswith("ft:") for m in more.openai) == 3 and len(more.openai_jobs) == 3
    assert sum(c["type"] == "fine-tuned" for c in more.mistral.values()) == 2
    assert len(more.together) == 4 and len(more.fireworks["sim-account"]) == 6
    assert plain.openai == {} and plain.fireworks == {"sim-account": {}}
    with pytest.raises(ValueError, match="unknown provider type"):
        generate(1, 1, NOW, vertex=1)


def test_admin_state_and_bad_admin_input(sim: Simulator) -> None:
    call(sim, "DELETE", "/together/v1/fine-tunes/ft-2")
    state = requests.get(sim.url + "/_sim/state", timeout=5).json()
    assert set(state) == {
        "cohere",
        "bfl",
        "openai",
        "mistral",
        "together",
        "fireworks",
        "bedrock",
        "azure_openai",
        "deleted",
    }
    assert state["together"] == ["ft-1"] and state["deleted"] == [["together", "ft-2"]]
    assert state["fireworks"] == [
        "accounts/sim-account/models/lora-1",
        "accounts/sim-account/models/lora-2",
    ]
    bad = requests.post(sim.url + "/_sim/faults", json=[{"kind": "nope"}], timeout=5)
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["message"]
    good = requests.post(
        sim.url + "/_sim/faults", json=[{"kind": "status", "api": "openai"}], timeout=5
    )
    assert good.json() == {"faults": 1} and sim.faults == [Fault("status", api="openai")]
    logged = requests.get(sim.url + "/_sim/requests", timeout=5).json()
    assert logged[0]["api"] == "together" and logged[0]["mutating"] is True


def test_empty_accounts_hold_the_default_fireworks_account() -> None:
    with Simulator(Accounts()) as sim:
        assert page(sim) == {"models": [], "nextPageToken": "", "totalSize": 0}
        unknown = call(sim, "GET", "/fireworks/v1/accounts/acme/models")
        assert unknown.status_code == 404 and "acme" in unknown.json()["message"]
