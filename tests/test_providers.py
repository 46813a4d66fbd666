"""Both providers through real HTTP against the simulator: every path and every fault."""

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.deletion import delete_and_settle
from runner.errors import OutcomeUnknown as HttpError
from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.providers.wire import path_segment
from runner.ratelimit import Limiters, RateLimiter
from runner.simulator import Accounts, Fault, Simulator, cohere_model, generate
from tests.conftest import COHERE_KEY, NOW, provider

COLLECTION = "/v1/finetuning/finetuned-models"


def test_cohere_lists_every_page() -> None:
    with Simulator(generate(2500, 0, NOW)) as sim:
        records = list(provider(sim, "cohere").list_models())
    assert len(records) == 2500 and len({r.id for r in records}) == 2500
    assert [r.method for r in sim.requests] == ["GET"] * 3  # pages of 1000
    assert all(r.created_at is not None and r.created_at.tzinfo is UTC for r in records)


def test_an_oversized_page_size_is_coerced_and_followed() -> None:
    with Simulator(generate(250, 0, NOW), max_page_size=100) as sim:
        records = list(provider(sim, "cohere").list_models())
    assert len({r.id for r in records}) == 250 and len(sim.requests) == 3


def test_cohere_record_fields(sim: Simulator) -> None:
    records = {r.id: r for r in provider(sim, "cohere").list_models()}
    first = records["sim-cohere-0001"]
    assert (first.name, first.status) == ("exp-baseline", "STATUS_READY")
    assert first.created_at == NOW - timedelta(days=200)
    assert records["sim-cohere-0011"].status == "STATUS_DELETED"  # reported, not hidden
    assert (
        provider(sim, "cohere").details("sim-cohere-0001")["settings"]["base_model"]["name"]
        == "command-r"
    )


def test_unknown_status_and_odd_items_pass_through() -> None:
    accounts = Accounts()
    accounts.add_cohere(cohere_model("m1", "x", "STATUS_SOMETHING_NEW", NOW))
    accounts.add_cohere({"id": "m2", "created_at": "yesterday"})
    accounts.add_cohere({"id": "m3", "created_at": "2999-01-01T00:00:00.123456789Z"})
    accounts.cohere["bad"] = {"name": "no id"}
    accounts.cohere_order.append("bad")
    with Simulator(accounts) as sim:
        records = list(provider(sim, "cohere").list_models())
    assert records[0].status == "STATUS_SOMETHING_NEW"
    assert records[1].problem == "unreadable created_at 'yesterday'"
    assert records[2].created_at == datetime(2999, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert records[3].problem == "listed item has no id"


def test_repeating_page_token_stops_with_clear_error() -> None:
    with (
        Simulator(generate(2500, 0, NOW), faults=[Fault("repeat_token")]) as sim,
        pytest.raises(ProviderError, match="came back twice; stopped listing"),
    ):
        list(provider(sim, "cohere").list_models())
    assert len(sim.requests) == 2


def test_cohere_delete_outcomes(sim: Simulator) -> None:
    cohere = provider(sim, "cohere")
    assert cohere.delete("sim-cohere-0002").result == "deleted"
    absent = cohere.delete("sim-cohere-0002")
    assert (absent.result, absent.http_status) == ("already_absent", 404)
    sim.faults = [Fault("status", method="DELETE", status=400)]
    failed = cohere.delete("sim-cohere-0003")
    assert (failed.result, failed.http_status) == ("failed", 400)
    assert failed.error == "simulated error 400"
    assert not cohere.exists("sim-cohere-0002") and cohere.exists("sim-cohere-0003")


def test_deleted_status_mode_is_not_deleted_again(sim: Simulator) -> None:
    sim.deleted_mode = "status"
    cohere = provider(sim, "cohere")
    assert cohere.delete("sim-cohere-0004").result == "deleted"
    assert not cohere.exists("sim-cohere-0004")  # listed as STATUS_DELETED counts as gone
    assert cohere.delete("sim-cohere-0004").result == "already_absent"


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried(sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", method="DELETE", status=status, times=2)]
    result = provider(sim, "cohere").delete("sim-cohere-0005")
    assert (result.result, result.attempts) == ("deleted", 3)


def test_retries_give_up_with_the_last_answer(sim: Simulator) -> None:
    sim.faults = [Fault("status", method="DELETE", status=503)]
    result = provider(sim, "cohere").delete("sim-cohere-0005")
    assert (result.result, result.http_status, result.attempts) == ("failed", 503, 6)


def test_retry_after_is_honoured_and_capped(sim: Simulator) -> None:
    # The server asks for 30 s; the policy caps waits at 1 s: one real second passes.
    sim.faults = [Fault("status", status=429, retry_after=30, times=1)]
    start = time.monotonic()
    assert len(list(provider(sim, "cohere").list_models())) == 12
    assert 0.9 <= time.monotonic() - start < 5


def test_connection_refused_is_one_clear_line() -> None:
    with Simulator() as sim:
        url = sim.url
    from runner.jobfile.model import Connection
    from runner.providers import REGISTRY
    from runner.providers.base import ConnectOptions
    from tests.conftest import FAST

    conn = Connection("cohere", "cohere", "K", url, 1, 6000)
    lister = REGISTRY["cohere"].connect(conn, "k-key-123", ConnectOptions(Limiters(), FAST))
    with pytest.raises(HttpError) as caught:
        list(lister.list_models())
    assert not caught.value.sent
    assert "cannot connect" in str(caught.value)


def test_dropped_read_is_retried(sim: Simulator) -> None:
    sim.faults = [Fault("drop_before", method="GET", times=1)]
    assert len(list(provider(sim, "cohere").list_models())) == 12


def test_delete_dropped_before_acting_is_retried_after_looking(sim: Simulator) -> None:
    sim.faults = [Fault("drop_before", method="DELETE", times=1)]
    result = delete_and_settle(provider(sim, "cohere").deleter, "sim-cohere-0006")
    assert result.result == "deleted"
    assert [r.method for r in sim.requests] == ["DELETE", "GET", "DELETE"]
    assert sim.deleted == [("cohere", "sim-cohere-0006")]


def test_read_timeout_on_delete_is_settled(sim: Simulator) -> None:
    sim.faults = [Fault("delay", method="DELETE", seconds=1.0, times=1)]
    from runner.providers import REGISTRY
    from runner.providers.base import ConnectOptions
    from runner.providers.http import RetryPolicy
    from tests.conftest import connection

    options = ConnectOptions(Limiters(), RetryPolicy(read_timeout=0.3))
    slow = REGISTRY["cohere"].connect(connection(sim, "cohere"), COHERE_KEY, options)
    result = delete_and_settle(REGISTRY["cohere"].kinds["model"].deleter(slow), "sim-cohere-0007")
    assert result.result in ("deleted", "already_absent")
    assert sim.deleted == [("cohere", "sim-cohere-0007")]


def test_huge_body_is_refused(sim: Simulator) -> None:
    sim.faults = [Fault("huge_body", method="GET")]
    with pytest.raises(HttpError, match="over 16 MiB"):
        list(provider(sim, "cohere").list_models())


@pytest.mark.parametrize("bad", ["../datasets/x", "a/b", "a b", "x\n", "..", "a%2F", "a?b", "a#b"])
def test_unsafe_ids_never_reach_the_wire(sim: Simulator, bad: str) -> None:
    with pytest.raises(ValueError, match="refusing ID"):
        provider(sim, "cohere").delete(bad)
    assert sim.requests == []


def test_encoded_looking_id_never_changes_the_path(sim: Simulator) -> None:
    # An ID with `%` could decode into a path separator: it is refused, never encoded.
    with pytest.raises(ValueError, match="refusing ID"):
        path_segment("a%2Fb")
    with pytest.raises(ValueError, match="refusing ID"):
        provider(sim, "cohere").delete("a%2Fb")
    assert sim.requests == []


def test_bfl_list_details_delete(sim: Simulator) -> None:
    bfl = provider(sim, "bfl")
    ids = [r.id for r in bfl.list_models()]
    assert ids == [
        "scratch-lora-1",
        "scratch-lora-2",
        "brand-style-lora",
        "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
    ]
    assert bfl.details("scratch-lora-1") == {"finetune_comment": "finetune scratch-lora-1"}
    assert bfl.delete("scratch-lora-1").result == "deleted"
    assert bfl.delete("scratch-lora-1").result == "already_absent"
    assert not bfl.exists("scratch-lora-1") and bfl.exists("scratch-lora-2")
    posts = [r for r in sim.requests if r.method == "POST"]
    assert [p.path for p in posts] == ["/v1/delete_finetune"] * 2


def test_bfl_odd_items_are_skipped_with_a_reason() -> None:
    accounts = Accounts()
    accounts.bfl_items.update({"a": 42, "b": {"finetune_id": "ok-1"}, "c": {"what": 1}})
    with Simulator(accounts) as sim:
        records = list(provider(sim, "bfl").list_models())
    assert records[0].problem == "listed item '42' is not a finetune ID"
    assert records[1].id == "ok-1"
    assert records[2].problem is not None


def test_bfl_error_shapes(sim: Simulator) -> None:
    sim.faults = [Fault("status", method="POST", status=422)]
    result = provider(sim, "bfl").delete("scratch-lora-2")
    assert (result.result, result.error) == ("failed", "simulated error 422")
    sim.faults = []
    with pytest.raises(ProviderError, match="HTTP 403: Invalid API key"):
        list(provider(sim, "bfl", key="nope").list_models())


def test_bfl_wrong_region_is_explained(sim: Simulator) -> None:
    sim.faults = [Fault("status", status=404, path="/v1/my_finetunes")]
    with pytest.raises(ProviderError, match="not a regional host"):
        list(provider(sim, "bfl").list_models())


def test_rate_limiter_spaces_requests_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == [0.5, 0.5, 0.5, 0.5]


def test_official_cohere_sdk_speaks_to_the_simulator(sim: Simulator) -> None:
    cohere = pytest.importorskip("cohere")
    client = cohere.Client(api_key=COHERE_KEY, base_url=sim.url, max_retries=0)
    page = client.finetuning.list_finetuned_models(page_size=5)
    assert len(page.finetuned_models) == 5 and page.next_page_token
    rest = client.finetuning.list_finetuned_models(page_size=50, page_token=page.next_page_token)
    assert len(page.finetuned_models) + len(rest.finetuned_models) == 12
    got = client.finetuning.get_finetuned_model("sim-cohere-0008")
    assert got.finetuned_model.name == "support-bot-v3"
    assert got.finetuned_model.status == "STATUS_FAILED"
    client.finetuning.delete_finetuned_model("sim-cohere-0008")
    with pytest.raises(cohere.errors.NotFoundError):
        client.finetuning.get_finetuned_model("sim-cohere-0008")
    assert sim.deleted == [("cohere", "sim-cohere-0008")]


def test_production_default_pacing_is_applied(tmp_path: Path) -> None:
    """The one test of the production pace: every other test job file sets its own
    requests_per_minute, so none waits 120 ms per request. Checked on the limiter, not
    by waiting."""
    from runner.connections import open_listers
    from runner.jobfile.validate import load_job_file
    from runner.providers.base import ConnectOptions

    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\njobs:\n  - {name: j, targets: [{provider: cohere, status: [STATUS_FAILED]}]}\n"
    )
    (conn,) = load_job_file(str(path)).connections.values()
    assert conn.requests_per_minute == REGISTRY["cohere"].default_requests_per_minute == 500
    with ExitStack() as stack:
        kinds = {"cohere": ["model"]}
        options = ConnectOptions(Limiters())
        listers = open_listers([conn], kinds, options, {"cohere": COHERE_KEY}, stack)
        assert listers["cohere", "model"].client.limiter.interval == 60 / 500  # type: ignore[attr-defined]
