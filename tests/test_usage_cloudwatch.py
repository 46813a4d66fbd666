"""Bedrock's use from CloudWatch (issue 18): ``unused_for`` on custom models and Provisioned
Throughputs through the command line. Bedrock itself is the simulator's wire; CloudWatch is
moto's real server, seeded with ``put_metric_data``, reached by boto3 through
``AWS_ENDPOINT_URL_CLOUDWATCH``, with a small proxy in front of it (tests.motoserver) that
counts calls and makes the faults moto cannot: throttling, partial data, refusals, dropped
connections, answers for the wrong queries. Whatever cannot be read keeps everything on the
connection: the run ends partial, exit 1, and nothing is deleted."""

import json
import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ProviderError
from runner.providers import bedrock
from runner.providers.bedrock_deployment import KIND
from runner.ref import ResourceRef
from runner.simulator import Simulator, load_seed
from runner.usage import REGISTRY as USAGE
from tests.conftest import NOW
from tests.helpers import NOW_ARG, TEST_PACE, cli, job_yaml, one_job, write_job
from tests.motoserver import (
    DROP,
    MotoServer,
    Reply,
    StubServer,
    aws_error,
    forward,
    invoked,
    stub,
)
from tests.motoserver import Seen as Request
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    KEY_ID,
    REGION,
    CountingLimiters,
    aws_env,
    lister,
    loopback_only,
    no_backoff,
)

pytestmark = pytest.mark.timeout(120)

DAY = timedelta(days=1)
HOURS_3 = timedelta(hours=3)
GET_METRIC_DATA = "GetMetricData"
SEED: dict[str, Any] = {
    "bedrock": {
        "model": [
            {"name": "idle", "age_days": 200},  # no use at all: deleted
            {"name": "used-long-ago", "age_days": 200},  # used 60 days ago: deleted
            {"name": "used-lately", "age_days": 200},  # used 5 days ago: kept
            {"name": "young", "age_days": 10},  # never used, but 10 days old: kept
            {"name": "never-used", "age_days": 40},  # none in the 90 days read: never used
            {"name": "served-busy", "age_days": 200},  # its PT was used 3 days ago: kept
            {"name": "served-idle", "age_days": 200},  # its PT idle: both go
        ],
        "deployment": [
            {"name": "pt-busy", "model": "served-busy", "age_days": 100},
            {"name": "pt-idle", "model": "served-idle", "age_days": 100},
        ],
    }
}
TARGETS = [
    "{provider: aws, unused_for: 30d, with_deployments: true}",
    # A longer rule on the same listing: the read reaches back 90 days for both.
    "{provider: aws, name: never-used, unused_for: 90d}",
]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


Script = Callable[[Request], Any]


@pytest.fixture
def cloudwatch(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Script], StubServer]]:
    """Points boto3's CloudWatch at a proxy in front of a freshly reset moto; the test says
    what the proxy answers (``use(script)``: by default moto's own answer)."""
    moto_server.reset()
    scripts: list[Script] = [lambda seen: forward(moto_server.url, seen)]
    with stub(lambda seen: scripts[-1](seen)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", proxy.url)

        def use(script: Script) -> StubServer:
            scripts.append(script)
            return proxy

        yield use


def arn(sim: Simulator, name: str) -> str:
    """The ARN CloudWatch names an item's use by: a custom model's, or a PT's."""
    if name in sim.accounts.bedrock:
        return str(sim.accounts.bedrock[name]["modelArn"])
    return str(sim.accounts.bedrock_pts[name]["provisionedModelArn"])


def job(tmp_path: Path, sim: Simulator, targets: list[str] = TARGETS) -> str:
    connection = {
        "type": "bedrock",
        "region": REGION,
        "endpoint_url": sim.base_url("bedrock"),
        "requests_per_minute": TEST_PACE,
    }
    jobs = one_job("idle", targets, max_deletions=10_000)
    return write_job(tmp_path, job_yaml({"aws": connection}, jobs))


def plan(
    capsys: pytest.CaptureFixture[str], path: str, *extra: str
) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli(capsys, *extra, path, "--json", "--now", NOW_ARG)
    (entry,) = json.loads(out)["jobs"]
    return code, entry, err


def decided(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["id"]: (d["decision"], d["reason"]) for d in entry["decisions"]}


def calls(proxy: StubServer) -> int:
    return sum(1 for seen in proxy.seen if seen.operation == GET_METRIC_DATA)


# -- what is used and what is not --------------------------------------------------------------


def test_idle_items_go_and_used_or_young_ones_stay(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = cloudwatch(lambda seen: forward(moto_server.url, seen))
    # A daily sum says the day: each use counts as at the end of its day (3 hours later).
    invoked(moto_server, [arn(sim, "used-long-ago")], NOW - 60 * DAY - HOURS_3)
    invoked(moto_server, [arn(sim, "used-lately")], NOW - 5 * DAY - HOURS_3)
    invoked(moto_server, [arn(sim, "pt-busy")], NOW - 3 * DAY - HOURS_3)
    invoked(moto_server, [arn(sim, "idle")], NOW - 5 * DAY, count=0)  # a zero sum is no use
    code, entry, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 0, err
    got = decided(entry)
    # The read reached back 90 days, not to its creation: no "never used".
    assert got["idle"] == ("delete", "unused_for 30d: no use in 30d")
    assert got["used-long-ago"] == ("delete", "unused_for 30d: last used 2026-04-02 (60d ago)")
    assert got["used-lately"] == (
        "keep",
        "last used 2026-05-27 (5d ago), within unused_for 30d",
    )
    assert got["young"][0] == "keep" and got["young"][1].startswith("too young: created")
    # Created after the read's start: it saw its whole life.
    assert got["never-used"][0] == "delete"
    assert "never used; created 2026-04-22 (40d ago)" in got["never-used"][1]
    # A custom model served by a PT is used when its PT was: neither goes.
    assert got["served-busy"] == ("keep", "last used 2026-05-29 (3d ago), within unused_for 30d")
    assert "pt-busy" not in got or got["pt-busy"][0] != "delete"
    assert got["served-idle"][0] == "delete" and got["pt-idle"][0] == "delete"
    assert calls(proxy) == 1  # 9 ARNs: one call for the connection and run
    assert not sim.mutations()


def test_a_deployment_target_reads_its_pts_use(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    invoked(moto_server, [arn(sim, "pt-busy")], NOW - 3 * DAY)
    path = job(tmp_path, sim, ["{provider: aws, kind: deployment, unused_for: 30d}"])
    code, entry, err = plan(capsys, path, "run", "--yes")
    assert code == 0, err
    got = decided(entry)
    assert got["pt-idle"] == ("delete", "unused_for 30d: no use in 30d")
    assert got["pt-busy"][0] == "keep"
    assert sim.deleted == [("bedrock", "provisioned-model/pt-idle")]


def test_a_run_deletes_the_idle_and_keeps_the_used(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    invoked(moto_server, [arn(sim, "used-lately")], NOW - 5 * DAY)
    invoked(moto_server, [arn(sim, "pt-busy")], NOW - 3 * DAY)
    code, _, err = plan(capsys, job(tmp_path, sim), "run", "--yes")
    assert code == 0, err
    gone = {path.rsplit("/", 1)[-1] for _, path in sim.deleted}
    assert gone == {"idle", "used-long-ago", "never-used", "served-idle", "pt-idle"}


def test_more_than_500_items_take_one_call_per_500(
    tmp_path: Path,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    models = [{"name": f"ft-{i:04d}", "age_days": 100} for i in range(1201)]
    with Simulator(load_seed({"bedrock": {"model": models}}, NOW)) as many:
        proxy = cloudwatch(lambda seen: forward(moto_server.url, seen))
        invoked(moto_server, [arn(many, "ft-0700")], NOW - 2 * DAY)
        path = job(tmp_path, many, ["{provider: aws, unused_for: 30d}"])
        code, entry, err = plan(capsys, path, "plan")
    assert code == 0, err
    got = decided(entry)
    assert sum(1 for action, _ in got.values() if action == "delete") == 1200
    assert got["ft-0700"][0] == "keep"
    assert calls(proxy) == 3  # ceil(1201 / 500)
    sizes = sorted(len(s.json()["MetricDataQueries"]) for s in proxy.seen)
    assert sizes == [201, 500, 500]


# -- pages -------------------------------------------------------------------------------------


def paged(moto: MotoServer, tokens: Callable[[int], str | None]) -> Script:
    """moto's answer, split the way CloudWatch may split one: each page's results marked
    PartialData and carrying NextToken ``tokens(n)`` (n: the page), until it says None."""
    pages: list[int] = []

    def script(seen: Request) -> Reply:
        answer = forward(moto.url, seen)
        token = tokens(len(pages))
        pages.append(len(pages))
        if token is None:
            return answer
        body = dict(answer.body)
        body["MetricDataResults"] = [
            {**r, "StatusCode": "PartialData"} for r in body["MetricDataResults"]
        ]
        return Reply(answer.status, {**body, "NextToken": token}, answer.headers)

    return script


def test_partial_data_is_read_to_its_last_page(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = cloudwatch(paged(moto_server, lambda n: f"page-{n + 1}" if n < 2 else None))
    invoked(moto_server, [arn(sim, "used-lately")], NOW - 5 * DAY)
    code, entry, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 0, err
    assert decided(entry)["used-lately"][0] == "keep"
    tokens = [(s.json() or {}).get("NextToken") for s in proxy.seen]
    assert tokens == [None, "page-1", "page-2"]


# -- faults: nothing is selected, the run is partial, nothing is deleted -------------------------


def _changed(moto: MotoServer, change: Callable[[list[dict[str, Any]]], Any]) -> Script:
    def script(seen: Request) -> Reply:
        answer = forward(moto.url, seen)
        results = change(list(answer.body["MetricDataResults"]))
        return Reply(answer.status, {**answer.body, "MetricDataResults": results})

    return script


FAULTS: dict[str, tuple[Callable[[MotoServer], Script], str]] = {
    "throttled": (
        lambda moto: lambda seen: aws_error("ThrottlingException", "Rate exceeded", 400),
        "ThrottlingException",
    ),
    "access denied": (
        lambda moto: (
            lambda seen: aws_error(
                "AccessDeniedException", "not authorized to perform: cloudwatch:GetMetricData", 403
            )
        ),
        "AccessDeniedException",
    ),
    "dropped connection": (lambda moto: lambda seen: DROP, "failed"),
    "a page token that repeats": (
        lambda moto: paged(moto, lambda n: "same-token"),
        "a NextToken came back twice",
    ),
    "partial data and no token": (
        lambda moto: _changed(moto, lambda rs: [{**r, "StatusCode": "PartialData"} for r in rs]),
        "PartialData with no NextToken",
    ),
    "results for other queries": (
        lambda moto: _changed(moto, lambda rs: [{**r, "Id": f"x{r['Id']}"} for r in rs]),
        "a query it was not asked",
    ),
    "results left out": (
        lambda moto: _changed(moto, lambda rs: rs[1:]),
        "it left out 1 of its",
    ),
    "a query answered Forbidden": (
        lambda moto: _changed(
            moto,
            lambda rs: [
                {**r, "StatusCode": "Forbidden", "Messages": [{"Code": "x", "Value": "no\x1b[2J"}]}
                for r in rs
            ],
        ),
        "a query answered Forbidden: no",
    ),
    "garbage": (
        lambda moto: lambda seen: Reply(200, ["not", "an", "object"]),
        "unreadable answer",
    ),
    # A sum of invocations that is no count must not read as "no use".
    "a negative count": (
        lambda moto: _changed(moto, lambda rs: [_one_point(r, -5.0) for r in rs]),
        "an unreadable data point",
    ),
    "a count that is not a number": (
        lambda moto: _changed(moto, lambda rs: [_one_point(r, math.nan) for r in rs]),
        "an unreadable data point",
    ),
}


def _one_point(result: dict[str, Any], value: float) -> dict[str, Any]:
    return {**result, "Timestamps": [(NOW - 2 * DAY).timestamp()], "Values": [value]}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("dry", [True, False], ids=["plan", "run"])
def test_an_unreadable_cloudwatch_keeps_everything_and_ends_partial(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
    fault: str,
    dry: bool,
) -> None:
    script, said = FAULTS[fault]
    cloudwatch(script(moto_server))
    code, entry, err = plan(capsys, job(tmp_path, sim), *(["plan"] if dry else ["run", "--yes"]))
    message = fails_safe(code, entry, err, sim)
    assert message.startswith("aws: usage unknown: cloudwatch: ") and said in message


def fails_safe(code: int, entry: dict[str, Any], err: str, sim: Simulator) -> str:
    """A read that could not vouch for use: partial, exit 1, every item skipped as usage
    unknown for one reason, nothing deleted or sent; the run's one-line message."""
    assert code == 1, err
    assert entry["end"]["status"] == "partial" and "Traceback" not in err
    message = str(entry["end"]["message"])
    assert message.startswith("aws: usage unknown: ")
    assert "\n" not in message and "\x1b" not in message
    reasons = {reason for action, reason in decided(entry).values() if action == "skip"}
    assert len(reasons) == 1 and reasons.pop().startswith("usage unknown: ")
    assert not [i for i, (action, _) in decided(entry).items() if action == "delete"]
    assert not sim.mutations()
    return message


def test_a_use_after_the_clock_is_a_use(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    idle = arn(sim, "idle")
    later = (NOW + 2 * DAY).timestamp()  # a clock skew: CloudWatch's day after the rules'

    def skewed(seen: Request) -> Reply:
        (key,) = [
            q["Id"]
            for q in seen.json()["MetricDataQueries"]
            if q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == idle
        ]
        answer = forward(moto_server.url, seen)
        results = [
            {**r, "Timestamps": [later], "Values": [2.0]} if r["Id"] == key else r
            for r in answer.body["MetricDataResults"]
        ]
        return Reply(answer.status, {**answer.body, "MetricDataResults": results})

    cloudwatch(skewed)
    code, entry, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 0, err
    assert decided(entry)["idle"] == ("keep", "last used 2026-06-04, after the rules' clock")


def test_a_models_use_is_unknown_without_the_listing_of_its_pts(
    sim: Simulator, cloudwatch: Callable[[Script], StubServer]
) -> None:
    models = lister(sim.base_url("bedrock"))
    items = [(ResourceRef.on("aws", r.id), r) for r in models.list_models()]
    with pytest.raises(ProviderError, match="Provisioned Throughputs were not listed"):
        USAGE["cloudwatch"].read(models, items, NOW - 30 * DAY, NOW)


def test_a_pt_listed_without_its_arn_makes_the_models_use_unknown(
    tmp_path: Path,
    sim: Simulator,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sim.lock:
        del sim.accounts.bedrock_pts["pt-busy"]["provisionedModelArn"]
    code, entry, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 1, err
    assert entry["end"]["status"] == "partial"
    assert "'pt-busy' has no readable provisionedModelArn" in entry["end"]["message"]
    assert decided(entry)["served-busy"][0] == "skip"


def test_throttling_is_retried_then_given_up(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    script, _ = FAULTS["throttled"]
    proxy = cloudwatch(script(moto_server))
    code, _, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 1, err
    assert calls(proxy) == bedrock.MAX_ATTEMPTS  # the connection's retries, then unknown


def test_cloudwatch_is_read_with_the_connections_key_region_and_pacing(
    sim: Simulator, moto_server: MotoServer, cloudwatch: Callable[[Script], StubServer]
) -> None:
    proxy = cloudwatch(lambda seen: forward(moto_server.url, seen))
    limiters = CountingLimiters()
    models = lister(sim.base_url("bedrock"), limiters)
    items = [(ResourceRef.on("aws", r.id), r) for r in models.list_models()]
    list(KIND.lister(models).list_models())  # a model target lists its PTs too
    seen = USAGE["cloudwatch"].read(models, items, NOW - 30 * DAY, NOW)
    assert set(seen) == {ref for ref, _ in items}
    (call,) = [s for s in proxy.seen if s.operation == GET_METRIC_DATA]
    assert f"Credential={KEY_ID}/" in call.headers["Authorization"]
    assert f"/{REGION}/monitoring/aws4_request" in call.headers["Authorization"]
    assert (f"aws:{KEY_ID}", proxy.url, 600) in limiters.calls  # CloudWatch's own pace
