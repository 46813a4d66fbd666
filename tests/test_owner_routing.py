"""Owner routing end to end: ``owner_tag`` and a ``notify:`` entry with ``by_owner``, the CLI,
the simulator (OpenAI models whose jobs' metadata names an owner) and three real receivers
on 127.0.0.1. Each owner's webhook hears only about its own models, once per event kind;
the rest go to ``"*"`` or, without one, to no one and are counted as unrouted. An owner
value that is huge or crafted to look like another never reaches that owner's webhook, and
no URL reaches any output."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.simulator import Simulator, load_seed
from tests.conftest import NOW
from tests.helpers import NOW_ARG, TEST_PACE, cli, job_yaml, one_job, write_job
from tests.test_notify_e2e import (  # noqa: F401 (autouse: short delivery timeouts)
    SECRET_BITS,
    Receiver,
    short_delivery,
)

pytestmark = pytest.mark.timeout(120)

BASE = "ft:gpt-4o-mini-2024-07-18:acme"
OWNERS = {
    f"{BASE}:a1:AAAA0001": "alice",
    f"{BASE}:a2:AAAA0002": "alice",
    f"{BASE}:b1:BBBB0001": "bob",
    f"{BASE}:c1:CCCC0001": "carol",  # no route of her own
    f"{BASE}:x1:XXXX0001": "alice*",  # never a glob
    f"{BASE}:x2:XXXX0002": "ALICE",  # never a case fold
    f"{BASE}:x3:XXXX0003": "alice " + "\u202e" * 3,  # never a prefix
    f"{BASE}:x4:XXXX0004": "alice" * 2000,  # huge
}
UNTAGGED = f"{BASE}:u1:UUUU0001"
SEED: dict[str, Any] = {
    "openai": [
        *({"id": i, "age_days": 40, "metadata": {"owner": o}} for i, o in OWNERS.items()),
        {"id": UNTAGGED, "age_days": 40},
    ]
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-owners")
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Receiver]]:
    with Receiver("ok") as alice, Receiver("ok") as bob, Receiver("ok") as rest:
        for name, hook in (("ALICE", alice), ("BOB", bob), ("REST", rest)):
            monkeypatch.setenv(f"{name}_HOOK_URL", hook.url)
        yield {"alice": alice, "bob": bob, "*": rest}


def owner_job(tmp_path: Path, sim: Simulator, routes: str) -> str:
    top = (
        "owner_tag: owner\n"
        "notify:\n"
        f"  - {{name: owners, events: [deleted, marked], by_owner: {routes}}}\n"
    )
    connection = {"base_url": sim.base_url("openai"), "requests_per_minute": TEST_PACE}
    jobs = one_job("j", ["{provider: openai, older_than: 30d}"])
    return write_job(tmp_path, job_yaml({"openai": connection}, jobs, top))


def told(hook: Receiver) -> set[str]:
    return {m["model_id"] for body in hook.bodies for m in body["models"]}


def test_each_owner_hears_only_about_its_own_models(
    tmp_path: Path, sim: Simulator, hooks: dict[str, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    routes = '{alice: ALICE_HOOK_URL, bob: BOB_HOOK_URL, "*": REST_HOOK_URL}'
    path = owner_job(tmp_path, sim, routes)
    code, out, err = cli(capsys, "run", path, "--yes", "--now", NOW_ARG)
    assert code == 0, err
    assert len(sim.deleted) == len(OWNERS) + 1
    assert told(hooks["alice"]) == {i for i, o in OWNERS.items() if o == "alice"}
    assert told(hooks["bob"]) == {i for i, o in OWNERS.items() if o == "bob"}
    crafted = {i for i, o in OWNERS.items() if o not in ("alice", "bob")}
    assert told(hooks["*"]) == crafted | {UNTAGGED}
    for hook in hooks.values():  # one POST per run and kind: deleted (no grace, no marks)
        assert [b["event"] for b in hook.bodies] == ["ftjanitor.deleted"]
        assert hook.bodies[0]["count"] == len(hook.bodies[0]["models"])
    assert "unrouted" not in out
    audit = (tmp_path / "audit" / "ftjanitor.jsonl").read_text()
    for text in (out, err, audit):
        assert not any(bit in text for bit in SECRET_BITS)
    sent = [
        r
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] == "notify.sent"
    ]
    assert sorted(r["notifier"] for r in sent) == ["owners[*]", "owners[alice]", "owners[bob]"]


def test_without_a_star_the_rest_are_unrouted_and_counted(
    tmp_path: Path, sim: Simulator, hooks: dict[str, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    path = owner_job(tmp_path, sim, "{alice: ALICE_HOOK_URL, bob: BOB_HOOK_URL}")
    code, out, err = cli(capsys, "run", path, "--yes", "--now", NOW_ARG)
    assert code == 0, err
    unrouted = len(OWNERS) + 1 - 3  # all but alice's two and bob's one
    assert f"notify: {unrouted} item(s) unrouted" in out
    assert told(hooks["alice"]) | told(hooks["bob"]) == {
        i for i, o in OWNERS.items() if o in ("alice", "bob")
    }
    assert hooks["*"].bodies == []
    records = read_records(tmp_path / "audit" / "ftjanitor.jsonl")
    (record,) = [r for r in records if r["event"] == "notify.unrouted"]
    assert (record["notifier"], record["count"]) == ("owners", unrouted)


def test_the_json_summary_counts_unrouted_items(
    tmp_path: Path, sim: Simulator, hooks: dict[str, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    path = owner_job(tmp_path, sim, "{bob: BOB_HOOK_URL}")
    code, out, _ = cli(capsys, "run", path, "--yes", "--json", "--now", NOW_ARG)
    assert code == 0
    (job,) = json.loads(out)["jobs"]
    assert job["unrouted"] == len(OWNERS)  # everyone but bob's one, and the untagged one


def test_a_dry_run_tells_no_owner_and_sends_nothing_that_changes(
    tmp_path: Path, sim: Simulator, hooks: dict[str, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    routes = '{alice: ALICE_HOOK_URL, "*": REST_HOOK_URL}'
    code, _, _ = cli(capsys, "plan", owner_job(tmp_path, sim, routes), "--now", NOW_ARG)
    assert code == 0
    assert not any(r.mutating for r in sim.requests)
    assert all(hook.requests == [] for hook in hooks.values())


@pytest.mark.parametrize(
    "notify, says",
    [
        (
            "  - {name: o, events: [deleted], by_owner: {a: A_URL}}\n",
            "by_owner needs a top-level owner_tag",
        ),
        (
            "  - {name: o, events: [deleted], url_env: A_URL, by_owner: {a: B_URL}}\n",
            "needs one of url_env and by_owner, not both",
        ),
        ("  - {name: o, events: [deleted]}\n", "needs one of url_env and by_owner"),
        (
            "  - {name: o, events: [deleted], by_owner: {a: 'https://hooks.example/x'}}\n",
            "must name an environment variable",
        ),
    ],
)
def test_by_owner_is_checked_at_its_line(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], notify: str, says: str
) -> None:
    connection = {"base_url": sim.base_url("openai")}
    jobs = one_job("j", ["{provider: openai, older_than: 30d}"])
    path = write_job(tmp_path, job_yaml({"openai": connection}, jobs, "notify:\n" + notify))
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and says in err and "hooks.example" not in err
    assert ":5:" in err  # the notify entry's line
