"""Tags through the command line against the simulator: ``tags:`` selects, ``protect_tags:``
exempts and ``expires_tag:`` selects what has expired, on OpenAI (its fine-tuning jobs'
``metadata``) and Bedrock (``ListTagsForResource``, read only when a rule needs tags).
Unreadable tags are kept, an unreadable date is skipped with its reason (the job stays
ok), hostile tag text is escaped wherever it is shown, and a dry run sends nothing that
changes."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.providers.base import TagsUnknown
from runner.providers.mapping import read_tags
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import NOW
from tests.helpers import (
    NOW_ARG,
    TEST_PACE,
    cli,
    job_yaml,
    one_job,
    plan_decisions,
    run_now,
    simulator_job,
    write_job,
)
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    REGION,
    aws_env,
    loopback_only,
    no_backoff,
)

pytestmark = pytest.mark.timeout(120)

BASE = "ft:gpt-4o-mini-2024-07-18:acme"
EXP = f"{BASE}:nlp-exp:AAAA1111"
PROD = f"{BASE}:nlp-prod:BBBB2222"
PAST = f"{BASE}:vision:CCCC3333"
FUTURE = f"{BASE}:future:DDDD4444"
TODAY = f"{BASE}:today:EEEE5555"
GARBAGE = f"{BASE}:garbage:FFFF6666"
UNTAGGED = f"{BASE}:untagged:GGGG7777"
HOSTILE = f"{BASE}:hostile:HHHH8888"
MISSHAPEN = f"{BASE}:misshapen:IIII9999"
EVIL = "\x1b[31m<script>alert(1)</script>\u202e" + "x" * 5000
OPENAI: list[dict[str, Any]] = [
    {"id": EXP, "age_days": 40, "metadata": {"team": "nlp", "stage": "exp-1"}},
    {"id": PROD, "age_days": 40, "metadata": {"team": "nlp", "stage": "prod", "keep": "true"}},
    {"id": PAST, "age_days": 40, "metadata": {"team": "vision", "expires": "2026-05-31"}},
    {"id": FUTURE, "age_days": 40, "metadata": {"expires": "2026-07-01T00:00:00Z"}},
    # NOW is 2026-06-01T12:00Z: a bare day lasts until its end.
    {"id": TODAY, "age_days": 40, "metadata": {"expires": "2026-06-01"}},
    {"id": GARBAGE, "age_days": 40, "metadata": {"expires": "next tuesday"}},
    {"id": UNTAGGED, "age_days": 40},
    {"id": HOSTILE, "age_days": 40, "metadata": {"team": EVIL, "expires": EVIL}},
    {"id": MISSHAPEN, "age_days": 40, "metadata": ["not", "an", "object"]},
]


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-tags")
    with Simulator(load_seed({"openai": OPENAI}, NOW)) as server:
        yield server


def openai_job(tmp_path: Path, sim: Simulator, *targets: str) -> str:
    return simulator_job(tmp_path, sim, "openai", *targets)


def actions(capsys: pytest.CaptureFixture[str], path: str) -> dict[str, tuple[str, str]]:
    return {i: (d["decision"], d["reason"]) for i, d in plan_decisions(capsys, path).items()}


def test_tags_select_by_every_key_and_glob(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = openai_job(tmp_path, sim, '{provider: openai, tags: {team: nlp, stage: "exp-*"}}')
    decided = actions(capsys, path)
    assert {i for i, (a, _) in decided.items() if a == "delete"} == {EXP}
    assert decided[EXP][1] == "tag 'team'='nlp', 'stage'='exp-1'"
    assert decided[PROD][0] == "nomatch"
    # Metadata that is not an object is unknown: skipped, never selected.
    assert decided[MISSHAPEN][0] == "skip"
    assert decided[MISSHAPEN][1].startswith("tags unknown: unreadable metadata")
    assert not any(r.mutating for r in sim.requests)  # a plan sends nothing that changes


def test_protect_tags_exempts_whatever_selects_it(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    target = '{provider: openai, older_than: 30d, protect_tags: {keep: "true"}}'
    path = openai_job(tmp_path, sim, target)
    decided = actions(capsys, path)
    assert decided[PROD] == ("keep", "protected by tag 'keep'='true'")
    # Tags that cannot be read protect too: what cannot be read is kept.
    assert decided[MISSHAPEN][0] == "keep"
    assert "tags unknown" in decided[MISSHAPEN][1]
    assert not any(r.mutating for r in sim.requests)
    assert run_now(path) == 0
    deleted = {model_id for _, model_id in sim.deleted}
    assert PROD not in deleted and MISSHAPEN not in deleted
    assert EXP in deleted and UNTAGGED in deleted


def test_protect_tags_alone_is_not_a_rule(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = openai_job(tmp_path, sim, '{provider: openai, protect_tags: {keep: "true"}}')
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and "a target needs ids, a rule" in err


def test_expires_tag_past_future_missing_and_garbage(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = openai_job(tmp_path, sim, "{provider: openai, expires_tag: expires}")
    decided = actions(capsys, path)
    assert decided[PAST] == ("delete", "expired 2026-06-01 00:00Z (tag 'expires')")
    assert decided[FUTURE] == ("keep", "expires 2026-07-01 00:00Z (tag 'expires')")
    assert decided[TODAY] == ("keep", "expires 2026-06-02 00:00Z (tag 'expires')")
    assert decided[UNTAGGED] == ("nomatch", "no tag 'expires'")
    action, reason = decided[GARBAGE]
    assert action == "skip" and "is not a date" in reason and "'next tuesday'" in reason
    assert not any(r.mutating for r in sim.requests)
    # A real run deletes only what has expired; the garbage date is skipped, the job ok.
    code, out, _ = cli(capsys, "run", path, "--yes", "--json", "--now", NOW_ARG)
    assert code == 0
    (job,) = json.loads(out)["jobs"]
    assert job["end"]["status"] == "ok"
    assert job["end"]["skipped"] == 3  # the garbage date, the hostile one, the misshapen tags
    assert sim.deleted == [("openai", PAST)]


def test_hostile_tags_are_escaped_and_cut_wherever_shown(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = openai_job(tmp_path, sim, "{provider: openai, tags: {team: '*'}, older_than: 1d}")
    code, text, _ = cli(capsys, "plan", path, "--now", NOW_ARG)
    assert code == 0
    assert "\x1b" not in text and "\u202e" not in text
    (line,) = [row for row in text.splitlines() if "hostile" in row]
    assert "\\x1b[31m<script>" in line and len(line) < 400  # escaped, and cut short
    code, markdown, _ = cli(capsys, "plan", path, "--format", "markdown", "--now", NOW_ARG)
    assert code == 0 and "\x1b" not in markdown
    (row,) = [row for row in markdown.splitlines() if "hostile" in row]
    reason_cell = row.rstrip(" |").rsplit(" | ", 1)[1]
    assert reason_cell.startswith("`") and reason_cell.endswith("`")  # a code span: inert
    assert "<script>" not in row.replace(reason_cell, "")
    code, out, _ = cli(capsys, "plan", path, "--json", "--now", NOW_ARG)
    reason = {d["id"]: d["reason"] for d in json.loads(out)["jobs"][0]["decisions"]}[HOSTILE]
    assert "; tag 'team'='\\x1b[31m<script>" in reason  # data, as the plan said it

    path = openai_job(tmp_path, sim, "{provider: openai, expires_tag: expires}")
    code, text, _ = cli(capsys, "plan", path, "--now", NOW_ARG)
    assert "\x1b" not in text and "\u202e" not in text


def test_a_failed_metadata_read_keeps_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-tags")
    fault = Fault("status", method="GET", path="/v1/fine_tuning/jobs", status=500)
    with Simulator(load_seed({"openai": OPENAI}, NOW), faults=[fault]) as sim:
        target = '{provider: openai, match_all: true, protect_tags: {keep: "true"}}'
        decided = actions(capsys, openai_job(tmp_path, sim, target))
        assert {a for a, _ in decided.values()} == {"keep"}
        assert all("tags unknown" in reason for _, reason in decided.values())


def test_a_tag_rule_on_a_type_without_tags_is_invalid_at_its_line(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = simulator_job(tmp_path, sim, "cohere", "{provider: cohere, tags: {team: nlp}}")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    assert ":7:" in err and "jobs[0].targets[0].tags: cohere models carry no tags" in err
    assert "(types whose models do: bedrock, openai)" in err
    path = simulator_job(tmp_path, sim, "mistral", "{provider: mistral, expires_tag: expires}")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and "jobs[0].targets[0].expires_tag: mistral models carry no tags" in err


# -- Bedrock: ListTagsForResource ------------------------------------------------------------

BEDROCK: dict[str, Any] = {
    "bedrock": [
        {"name": "ft-nlp", "age_days": 40, "tags": {"team": "nlp", "expires": "2026-01-01"}},
        {"name": "ft-keep", "age_days": 40, "tags": {"team": "nlp", "keep": "true"}},
        {"name": "ft-vision", "age_days": 40, "tags": {"team": "vision"}},
        {"name": "ft-bare", "age_days": 40},
    ]
}


@pytest.fixture
def bedrock_sim() -> Iterator[Simulator]:
    with Simulator(load_seed(BEDROCK, NOW)) as server:
        yield server


def bedrock_job(tmp_path: Path, sim: Simulator, target: str) -> str:
    connection = {
        "type": "bedrock",
        "region": REGION,
        "endpoint_url": sim.base_url("bedrock"),
        "requests_per_minute": TEST_PACE,
        "concurrency": 3,
    }
    return write_job(tmp_path, job_yaml({"aws": connection}, one_job("j", [target])))


def tag_reads(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/listTagsForResource"))


def test_bedrock_reads_tags_only_when_a_rule_needs_them(
    tmp_path: Path, bedrock_sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    decided = actions(
        capsys, bedrock_job(tmp_path, bedrock_sim, "{provider: aws, older_than: 30d}")
    )
    assert len(decided) == 4 and tag_reads(bedrock_sim) == 0
    target = '{provider: aws, tags: {team: nlp}, protect_tags: {keep: "*"}}'
    decided = actions(capsys, bedrock_job(tmp_path, bedrock_sim, target))
    assert tag_reads(bedrock_sim) == 4  # one per model
    assert decided["ft-nlp"] == ("delete", "tag 'team'='nlp'")
    assert decided["ft-keep"] == ("keep", "protected by tag 'keep'='true'")
    assert decided["ft-vision"][0] == decided["ft-bare"][0] == "nomatch"
    assert not any(r.mutating for r in bedrock_sim.requests)


def test_bedrock_expires_tag_runs_and_deletes_only_the_expired(
    tmp_path: Path, bedrock_sim: Simulator
) -> None:
    assert run_now(bedrock_job(tmp_path, bedrock_sim, "{provider: aws, expires_tag: expires}")) == 0
    assert bedrock_sim.deleted == [("bedrock", "ft-nlp")]


def test_bedrock_tags_that_cannot_be_read_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = Fault("status", method="POST", path="/listTagsForResource", status=403, api="bedrock")
    with Simulator(load_seed(BEDROCK, NOW), faults=[fault]) as sim:
        target = '{provider: aws, older_than: 30d, protect_tags: {keep: "*"}}'
        decided = actions(capsys, bedrock_job(tmp_path, sim, target))
    assert {a for a, _ in decided.values()} == {"keep"}
    assert all("protect_tags: tags unknown" in reason for _, reason in decided.values())


def test_bedrock_reads_tags_concurrently_within_the_connections_concurrency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each read takes 0.5 s at the simulator; the connection allows 3 at once, so the
    # fourth starts only when one of the first three is answered.
    fault = Fault("delay", method="POST", path="/listTagsForResource", seconds=0.5)
    with Simulator(load_seed(BEDROCK, NOW), faults=[fault]) as sim:
        actions(capsys, bedrock_job(tmp_path, sim, "{provider: aws, tags: {team: nlp}}"))
        arrived = sorted(r.ts for r in sim.requests if r.path.endswith("/listTagsForResource"))
    assert len(arrived) == 4
    assert arrived[2] - arrived[0] < 0.4  # three at once
    assert arrived[3] - arrived[0] >= 0.4  # never a fourth


def test_bedrock_deployments_carry_their_tags_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed: dict[str, Any] = {
        "bedrock": {
            "model": [{"name": "ft-0", "age_days": 40}],
            "deployment": [
                {"name": "pt-temp", "model": "ft-0", "tags": {"stage": "temp"}, "age_days": 3},
                {"name": "pt-prod", "model": "ft-0", "tags": {"stage": "prod"}, "age_days": 3},
            ],
        }
    }
    with Simulator(load_seed(seed, NOW)) as sim:
        target = "{provider: aws, kind: deployment, tags: {stage: temp}}"
        decided = actions(capsys, bedrock_job(tmp_path, sim, target))
    assert decided["pt-temp"] == ("delete", "tag 'stage'='temp'")
    assert decided["pt-prod"][0] == "nomatch"


@pytest.mark.parametrize(
    "raw, read",
    [
        (None, {}),
        ({"team": "nlp"}, {"team": "nlp"}),
        ([{"key": "team", "value": "nlp"}], {"team": "nlp"}),
        ([{"Key": "team", "Value": "nlp"}], {"team": "nlp"}),
        ([], {}),
        ({"team": 7}, "unreadable tags: 'team' is not a string pair"),
        ([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}], "key 'a' is given twice"),
        ("team=nlp", "not an object or a list of key/value pairs"),
        ([["team", "nlp"]], "not an object or a list of key/value pairs"),
        ({"\x1b[2J": None}, "unreadable tags: '\\x1b[2J' is not a string pair"),
    ],
)
def test_tags_read_as_sent_or_are_unknown(raw: Any, read: Any) -> None:
    got = read_tags(raw, "tags")
    if isinstance(read, dict):
        assert got == read
    else:
        assert isinstance(got, TagsUnknown) and read in got.why
