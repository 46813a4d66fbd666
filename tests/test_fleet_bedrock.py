"""Bedrock fleets against moto's real server: ``regions:`` as one connection per region,
``role_arn`` assumed through STS (boto3's ``AWS_ENDPOINT_URL_STS``), refreshed before it
expires, and a role that cannot be assumed failing its own connection only."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from runner.audit import read_records
from runner.providers.bedrock import SESSION_NAME, assumed_role
from tests.helpers import TEST_PACE, cli, job_yaml, one_job, write_job
from tests.motoserver import REGION, MotoServer, create_custom_model
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    KEY_ID,
    SECRET,
    aws_env,
    loopback_only,
    no_backoff,
)

pytestmark = pytest.mark.timeout(120)

WEST = "eu-west-1"
ROLE = "arn:aws:iam::111111111111:role/janitor"
DENIED = "arn:aws:iam::222222222222:role/denied"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """moto, empty, as boto3's own endpoint configuration reaches STS and Bedrock."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", moto_server.url)
    return moto_server


@pytest.fixture
def deny_role() -> Iterator[None]:
    """moto assumes any role; AWS refuses one whose trust policy leaves us out. Taught
    here for the role ``DENIED`` (moto's server runs in this process)."""
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse

    real = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        if self._get_param("RoleArn") == DENIED:
            raise STSClientError(
                "AccessDenied", f"not authorized to perform: sts:AssumeRole on {DENIED}"
            )
        return real(self)

    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]
    try:
        yield
    finally:
        TokenResponse.assume_role = real  # type: ignore[method-assign]


def as_role(moto: MotoServer, role: str) -> Any:
    """A Bedrock client in the role's account, to seed it."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=moto.url)
    creds = sts.assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
    return boto3.client(
        "bedrock",
        region_name=REGION,
        endpoint_url=moto.url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def job(tmp_path: Path, providers: dict[str, dict[str, object]]) -> str:
    paced = {
        n: {"type": "bedrock", **f, "requests_per_minute": TEST_PACE} for n, f in providers.items()
    }
    targets = [f'{{provider: {name}, name: "ft-*"}}' for name in providers]
    return write_job(tmp_path, job_yaml(paced, one_job("sweep", targets)))


def outcomes(tmp_path: Path) -> set[tuple[str, str, str]]:
    return {
        (r["provider"], r["model_id"], r["result"])
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] == "delete.outcome"
    }


def test_regions_are_one_connection_each_named_name_slash_region(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    create_custom_model(moto.client(REGION), "ft-east")
    create_custom_model(moto.client(WEST), "ft-west")
    path = job(tmp_path, {"aws": {"regions": [REGION, WEST]}})
    code, out, err = cli(capsys, "plan", path, "--json")
    assert code == 0, err
    (entry,) = json.loads(out)["jobs"]
    planned = {(d["connection"], d["id"]) for d in entry["decisions"] if d["decision"] == "delete"}
    assert planned == {(f"aws/{REGION}", "ft-east"), (f"aws/{WEST}", "ft-west")}
    # inventory --provider takes the declared name for every region, or one region.
    for provider, seen in (("aws", {"ft-east", "ft-west"}), (f"aws/{WEST}", {"ft-west"})):
        code, out, err = cli(capsys, "inventory", path, "--provider", provider, "--json")
        assert code == 0, err
        assert {row["id"] for row in json.loads(out)} == seen
    code, _, err = cli(capsys, "run", path, "--yes")
    assert code == 0, err
    assert outcomes(tmp_path) == {
        (f"aws/{REGION}", "ft-east", "deleted"),
        (f"aws/{WEST}", "ft-west", "deleted"),
    }


def test_a_role_is_assumed_with_its_external_id_and_a_session_name_of_ftjanitor(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.sts.models import sts_backends

    create_custom_model(as_role(moto, ROLE), "ft-theirs")  # in the role's account
    create_custom_model(moto.client(REGION), "ft-ours")  # in the source credentials' own
    path = job(tmp_path, {"acct": {"region": REGION, "role_arn": ROLE, "external_id": "xid-42"}})
    code, out, err = cli(capsys, "run", path, "--yes")
    assert code == 0, err
    assert outcomes(tmp_path) == {("acct", "ft-theirs", "deleted")}
    sessions = [
        (r.session_name, r.external_id)
        for r in sts_backends["111111111111"]["aws"].assumed_roles
        if r.session_name != "seed"
    ]
    assert sessions and set(sessions) == {(SESSION_NAME, "xid-42")}
    assert SECRET not in out + err and KEY_ID not in out + err


def test_role_credentials_are_refreshed_before_they_expire_and_each_set_is_redacted(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.credentials
    import botocore.session
    from botocore.credentials import RefreshableCredentials
    from dateutil.tz import tzlocal

    told: list[str] = []  # what the connection redacts from its messages
    session = assumed_role(botocore.session.Session(), ROLE, None, REGION, told.extend)
    credentials = session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    first = credentials.get_frozen_credentials()
    assert first.access_key != KEY_ID  # the role's, not the source's
    # 55 minutes on, five before the hour's credentials lapse (botocore's clock, moved
    # instead of waited for): the next use assumes the role again.
    later = datetime.now(tzlocal()) + timedelta(minutes=55)
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)
    monkeypatch.setattr(credentials, "_time_fetcher", lambda: later)
    second = credentials.get_frozen_credentials()
    assert second.access_key != first.access_key
    for each in (first, second):
        assert {each.access_key, each.secret_key, each.token} <= set(told)


# moto warns that AccessDenied is no error shape of STS's model; AWS sends it all the same.
@pytest.mark.filterwarnings("ignore:Exception\\(STSClientError\\)")
def test_a_role_that_cannot_be_assumed_fails_its_connection_only(
    tmp_path: Path, moto: MotoServer, deny_role: None, capsys: pytest.CaptureFixture[str]
) -> None:
    create_custom_model(moto.client(REGION), "ft-ours")
    path = job(
        tmp_path,
        {"ours": {"region": REGION}, "theirs": {"region": REGION, "role_arn": DENIED}},
    )
    code, out, err = cli(capsys, "run", path, "--yes")
    assert code == 1
    assert outcomes(tmp_path) == {("ours", "ft-ours", "deleted")}
    said = [line for line in (out + err).splitlines() if DENIED in line]
    assert said and all(f"cannot assume role {DENIED}: AccessDenied" in line for line in said)
    assert SECRET not in out + err and KEY_ID not in out + err
    end = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))[-1]
    assert (end["event"], end["status"]) == ("run.end", "partial")


BAD = [
    (
        "regions: [us-east-1, eu-west-1, us-east-1]",
        ":5:",
        "regions[2]: 'us-east-1' is listed twice",
    ),
    ("regions: [us-east-1, mars]", ":5:", "regions[1]: 'mars' is not an AWS region like us-east-1"),
    ("regions: []", ":5:", "providers.aws.regions: "),  # the schema's own words follow
    (
        "{region: us-east-1, regions: [us-west-2]}",
        ":4:",
        "regions: give region or regions, not both",
    ),
    ("role_arn: arn:aws:iam::12:role/x", ":5:", "is not an IAM role ARN"),
]


@pytest.mark.parametrize(("fields", "where", "message"), BAD)
def test_bad_regions_and_roles_are_invalid_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: str, where: str, message: str
) -> None:
    text = f"""version: 1
providers:
  aws:
    type: bedrock
    {fields}
jobs: [{{name: sweep, targets: [{{provider: aws, match_all: true}}]}}]
"""
    if fields.startswith("{"):
        text = text.replace(
            f"    type: bedrock\n    {fields}", f"    {{type: bedrock, {fields[1:]}"
        )
    code, _, err = cli(capsys, "validate", write_job(tmp_path, text))
    assert code == 2
    lines = [line for line in err.splitlines() if message in line]
    assert lines and lines[0].startswith(f"{tmp_path / 'job.yaml'}{where}"), err
