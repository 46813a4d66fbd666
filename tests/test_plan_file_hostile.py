"""A plan file is input from anywhere: wrong shapes, parser bombs, forged hashes, keys.

Every refusal is one line on stderr, exit 2, and no request at all. Plans are made with the
real ``plan --out`` against the simulator, then changed the way an attacker would, with the
sha256 recomputed (``resign``), so only the change itself is judged.
"""

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import planfile
from runner.chain import dumps
from runner.cli import main
from runner.simulator import Simulator
from tests.helpers import demo_connections, job_yaml, one_job
from tests.test_planfile import NOW, REVIEWED, TARGETS, make_plan, resign
from tests.test_planfile import keys as keys  # the fixture

KEY = "plan-key-5e3b1c0ffee-not-for-output"


def refused(sim: Simulator, capsys: pytest.CaptureFixture[str], job: str, plan: Path) -> str:
    """``run --plan``'s one line, after checking it exited 2 and sent nothing."""
    before = len(sim.requests)
    capsys.readouterr()
    assert main(["run", job, "--plan", str(plan), "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ftjanitor: "), err
    assert "internal error" not in err and "Traceback" not in err
    assert len(sim.requests) == before  # not even a listing
    return err


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        node: Any = body
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        node: Any = body
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]

    return change


# Each is signed again after the change: the sha256 cannot be what stops it.
WRONG_SHAPES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "jobs-number": (_set(("jobs",), 5), "jobs must be a list"),
    "jobs-mapping": (_set(("jobs",), {"cleanup": []}), "jobs must be a list"),
    "job-entry-string": (_set(("jobs", 0), "cleanup"), "jobs[0] must be a mapping"),
    "deletes-number": (_set(("jobs", 0, "deletes"), 5), "jobs[0].deletes must be a list"),
    "job-list": (_set(("jobs", 0, "job"), ["x"]), "jobs[0].job must be a string"),
    "delete-string": (
        _set(("jobs", 0, "deletes", 0), "sim-cohere-0012"),
        "jobs[0].deletes[0] must be a mapping",
    ),
    "model-id-number": (
        _set(("jobs", 0, "deletes", 0, "model_id"), 12),
        "jobs[0].deletes[0].model_id must be a string",
    ),
    "model-id-missing": (
        _drop(("jobs", 0, "deletes", 0, "model_id")),
        "jobs[0].deletes[0] lacks 'model_id'",
    ),
    "delete-extra-field": (
        _set(("jobs", 0, "deletes", 0, "force"), True),
        "jobs[0].deletes[0] has an unknown field 'force'",
    ),
    "top-extra-field": (_set(("approved_by",), "ceo"), "has an unknown field 'approved_by'"),
    "expires-missing": (_drop(("expires",)), "lacks 'expires'"),
    "expires-number": (_set(("expires",), 4102444800), "expires must be a string"),
    "expires-not-a-time": (_set(("expires",), "tomorrow"), "expires does not fit"),
    "job-file-hash-null": (_set(("job_file_sha256",), None), "job_file_sha256 must be"),
    "v-true": (_set(("v",), True), "it reads version 1"),
    "v-float": (_set(("v",), 1.0), "it reads version 1"),
    "v-string": (_set(("v",), "1"), "it reads version 1"),
    "v-future": (_set(("v",), 2), "it reads version 1"),
    "v-missing": (_drop(("v",)), "it reads version 1"),
    "kind-other": (_set(("kind",), "terraform.plan"), "not an ftjanitor plan file"),
    "unknown-field-with-escapes": (_set(("x\u202e\n",), 1), "unknown field 'x\\u202e\\n'"),
}


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_a_plan_of_the_wrong_shape_is_refused_in_our_words(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    change, words = WRONG_SHAPES[case]
    change(body)
    resign(out, body)
    err = refused(sim, capsys, job, out)
    assert err.startswith(f"ftjanitor: --plan {out}: ") and words in err, err


def test_a_root_that_is_not_a_mapping_is_not_a_plan(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    for text in ("[]", "5", "null", '"plan"', "true"):
        out.write_text(text)
        assert "not an ftjanitor plan file" in refused(sim, capsys, job, out)


def test_nesting_is_refused_before_the_parser_can_recurse(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    for bomb in ("[" * 200_000 + "]" * 200_000, '{"a":' * 200_000 + "1" + "}" * 200_000):
        out.write_text(bomb)
        err = refused(sim, capsys, job, out)
        assert f"nesting deeper than {planfile.MAX_DEPTH}" in err
    out.write_text("[" * 200_000)  # not even closed
    assert "nesting deeper" in refused(sim, capsys, job, out)


def test_brackets_inside_strings_do_not_count_as_nesting(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model name full of brackets and escaped quotes is data, not depth."""
    sim.accounts.cohere["sim-cohere-0008"]["name"] = '[{"\\' * 500 + '"\\"]'
    job, out = make_plan(tmp_path, sim)
    capsys.readouterr()
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": "]]]]"}]}', 3),
        (b'["\\"[[[", ["\\\\"], [[]]]', 3),
        (b'["unterminated [[[[[[', 1),
        (b"[" * 50 + b"]" * 50, 50),
    ],
)
def test_depth_is_counted_outside_strings(raw: bytes, expected: int) -> None:
    assert planfile._depth(raw) == expected


def test_a_key_given_twice_is_refused(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reviewer's viewer may show the first of two `expires`, while json keeps the last."""
    job, out = make_plan(tmp_path, sim)
    text = out.read_text()
    out.write_text(text.replace('"expires":', '"expires": "2000-01-01T00:00:00Z",\n  "expires":'))
    assert "the key 'expires' appears twice" in refused(sim, capsys, job, out)


def test_an_empty_jobs_list_applies_nothing(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """To the engine "no job named" means every job: a plan naming none must run none."""
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    body["jobs"] = []
    resign(out, body)
    before = len(sim.requests)
    capsys.readouterr()
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert "the plan names no job; nothing to apply" in capsys.readouterr().err
    assert len(sim.requests) == before and sim.deleted == []


def test_a_job_named_twice_is_refused(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    body["jobs"].append({"job": "cleanup", "deletes": []})
    resign(out, body)
    assert "names job 'cleanup' twice" in refused(sim, capsys, job, out)


def test_a_lone_surrogate_in_a_name_is_written_hashed_and_read_back(
    tmp_path: Path, sim: Simulator, keys: None
) -> None:
    """JSON from a provider may carry "\\ud800"; the plan file stays valid UTF-8 JSON."""
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    body["jobs"][0]["deletes"][0]["name"] = "a\ud800b"
    body["sha256"] = planfile._digest(body)
    planfile.write(out, body)
    out.read_bytes().decode("utf-8")  # strict: no surrogate bytes in the file
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED


def _plan_0_2(job_file: Path, expires: str) -> dict[str, Any]:
    """A plan file exactly as 0.2 wrote it: the fields spelled out, the hash as 0.2 made it."""
    body: dict[str, Any] = {
        "v": 1,
        "kind": "ftjanitor.plan",
        "created": "2026-06-01T12:00:00.000000Z",
        "now": "2026-06-01T12:00:00.000000Z",
        "expires": expires,
        "job_file": str(job_file),
        "job_file_sha256": hashlib.sha256(job_file.read_bytes()).hexdigest(),
        "jobs": [
            {
                "job": "cleanup",
                "deletes": [
                    {"provider": p, "model_id": m, "name": None, "reason": "reviewed"}
                    for p, m in sorted(REVIEWED)
                ],
            }
        ],
    }
    body["sha256"] = hashlib.sha256(dumps(body).encode()).hexdigest()
    return body


def test_a_plan_written_by_0_2_still_applies(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(demo_connections(sim.url), one_job("cleanup", TARGETS)))
    out = tmp_path / "plan.json"
    out.write_text(json.dumps(_plan_0_2(job, "2999-01-01T00:00:00.000000Z"), indent=2))
    assert main(["run", str(job), "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED


def test_the_shipped_schema_is_the_one_used(tmp_path: Path) -> None:
    """schemas/plan.schema.json is what `run --plan` checks (and what the wheel ships)."""
    shipped = json.loads((Path(__file__).parent.parent / "schemas/plan.schema.json").read_text())
    assert planfile._validator().schema == shipped
    job = tmp_path / "job.yaml"
    job.write_text("x")
    assert planfile._validator().is_valid(_plan_0_2(job, "2999-01-01T00:00:00Z"))
    assert not planfile._validator().is_valid(_plan_0_2(job, "in a day"))


# ---- signing -------------------------------------------------------------------------


def test_with_a_key_plans_are_signed_and_applied(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(planfile.KEY_ENV, KEY)
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    assert len(body["hmac_sha256"]) == 64
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED
    _assert_key_nowhere(tmp_path, capsys)


def _assert_key_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = capsys.readouterr()
    assert KEY not in out + err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for db in tmp_path.rglob("*.sqlite3"):
        with sqlite3.connect(db) as conn:
            dump = "\n".join(conn.iterdump())
        assert KEY not in dump


def _pushed_expiry(body: dict[str, Any]) -> None:
    body["expires"] = "2099-01-01T00:00:00.000000Z"


def _unsigned(body: dict[str, Any]) -> None:
    del body["hmac_sha256"]


def _foreign_signature(body: dict[str, Any]) -> None:
    body.pop("hmac_sha256")
    body["hmac_sha256"] = planfile._signature(body, "another-key")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_pushed_expiry, "signature does not match FTJANITOR_PLAN_KEY"),
        (_unsigned, "the plan is not signed, and FTJANITOR_PLAN_KEY requires it"),
        (_foreign_signature, "signature does not match FTJANITOR_PLAN_KEY"),
    ],
)
def test_with_a_key_a_rehashed_plan_is_refused(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[dict[str, Any]], None],
    words: str,
) -> None:
    """The sha256 anyone can recompute; only the key makes the signature."""
    monkeypatch.setenv(planfile.KEY_ENV, KEY)
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    change(body)
    resign(out, body)
    assert words in refused(sim, capsys, job, out)
    _assert_key_nowhere(tmp_path, capsys)


def test_an_unsigned_run_refuses_a_signed_plan_it_cannot_check(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(planfile.KEY_ENV, KEY)
    job, out = make_plan(tmp_path, sim)
    monkeypatch.delenv(planfile.KEY_ENV)
    assert "the plan is signed, but FTJANITOR_PLAN_KEY is not set" in refused(sim, capsys, job, out)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "FTJANITOR_PLAN_KEY is set but empty"),
        (KEY + "\n", "malformed plan key: FTJANITOR_PLAN_KEY holds whitespace"),
        ("a b" + KEY, "malformed plan key"),
        (KEY + "\x1b[2J", "malformed plan key"),
    ],
)
def test_a_bad_key_is_refused_before_any_request_and_never_shown(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    words: str,
) -> None:
    job, out = make_plan(tmp_path, sim)  # unsigned, before the key is set
    monkeypatch.setenv(planfile.KEY_ENV, value)
    fresh = tmp_path / "fresh.json"
    before = len(sim.requests)
    capsys.readouterr()
    assert main(["plan", job, "--now", NOW, "--out", str(fresh)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not fresh.exists() and len(sim.requests) == before
    assert words in refused(sim, capsys, job, out)
    _assert_key_nowhere(tmp_path, capsys)


# ---- TTL -----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["0s", "1s", "59s"])
def test_a_ttl_under_a_minute_writes_nothing_and_sends_nothing(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str], ttl: str
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(demo_connections(sim.url), one_job("cleanup", TARGETS)))
    out = tmp_path / "plan.json"
    assert main(["plan", str(job), "--now", NOW, "--out", str(out), "--ttl", ttl]) == 2
    err = capsys.readouterr().err
    assert "--ttl must be at least 1m" in err and err.count("\n") == 1
    assert not out.exists() and sim.requests == []


def test_a_one_minute_ttl_is_accepted(tmp_path: Path, sim: Simulator, keys: None) -> None:
    _, out = make_plan(tmp_path, sim, "--ttl", "1m")
    body = json.loads(out.read_text())
    created, expires = (planfile.parse_instant(body[k]) for k in ("created", "expires"))
    assert expires - created == planfile.MIN_TTL
