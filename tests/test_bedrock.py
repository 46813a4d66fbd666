"""The Bedrock provider against moto's real server and a local stub, over real HTTP.

Every connection here has an ``endpoint_url`` on 127.0.0.1 and the environment holds
fake credentials only, so nothing can reach AWS. botocore's retry back-off is set to zero
(no waiting on the wall clock); its retry decisions are kept.
"""

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ConfigError, OutcomeUnknown, ProviderError
from runner.jobfile.model import Connection
from runner.providers import bedrock
from runner.providers.base import ConnectOptions
from runner.ratelimit import Limiters, RateLimiter
from tests.helpers import refused_port
from tests.motoserver import (
    BASE_MODEL,
    DROP,
    REGION,
    MotoServer,
    Reply,
    Seen,
    aws_error,
    create_custom_model,
    stub,
)

pytestmark = pytest.mark.timeout(30)

KEY_ID = "AKIAFTJANITORTEST01"
SECRET = "fakeSecret+ftjanitor/5c9e1b7a0d3f"  # distinctive, so a leak would be found
ROOT = Path(__file__).resolve().parent.parent


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    return moto_server


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials only; no profile, config file or metadata service can be read."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BOTO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("BOTO_CONFIG", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Belt and braces: a lookup of any host but 127.0.0.1 is refused and fails the test
    (botocore would wrap the refusal, so it is also recorded and checked afterwards)."""
    real = socket.getaddrinfo
    refused: list[object] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            refused.append(host)
            raise OSError(f"tests may not reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert not refused, f"a test tried to reach {refused}"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


class CountingLimiters(Limiters):
    """Records every pacing request; never waits."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int]] = []
        self.acquired = 0
        counter = self

        class Counting(RateLimiter):
            def acquire(self) -> float:
                counter.acquired += 1
                return 0.0

        self._limiter = Counting(60)

    def get(self, credential: str, endpoint: str, per_minute: int) -> RateLimiter:
        self.calls.append((credential, endpoint, per_minute))
        return self._limiter


def connection(endpoint_url: str | None, name: str = "aws-test", **options: Any) -> Connection:
    fields: dict[str, Any] = {"region": REGION}
    if endpoint_url is not None:
        fields["endpoint_url"] = endpoint_url
    fields.update(options)
    return Connection(
        name=name,
        type="bedrock",
        api_key_env=None,
        base_url=None,
        concurrency=4,
        requests_per_minute=600,
        options=fields,
    )


def lister(
    endpoint_url: str, limiters: Limiters | None = None, **options: Any
) -> bedrock.BedrockLister:
    return bedrock.connect(
        connection(endpoint_url, **options), None, ConnectOptions(limiters or CountingLimiters())
    )


def assert_clean(message: str) -> None:
    """One line, naming nothing secret."""
    assert message and "\n" not in message and "\r" not in message
    assert SECRET not in message and KEY_ID not in message
    assert "Traceback" not in message


def seed(moto: MotoServer, *names: str) -> None:
    client = moto.client()
    for name in names:
        create_custom_model(client, name)


# -- the spec and records -----------------------------------------------------------------


@pytest.fixture
def nowhere() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that refuses every connection."""
    with refused_port() as port:
        yield f"http://127.0.0.1:{port}"


def test_spec_declares_the_provider() -> None:
    spec = bedrock.SPEC
    assert spec.type == "bedrock" and spec.credential == "aws"
    assert spec.default_api_key_env is None and spec.default_base_url is None
    assert spec.required_fields == ("region",)
    assert set(spec.connection_fields) == {
        "region",
        "regions",
        "endpoint_url",
        "profile",
        "role_arn",
        "external_id",
    }
    model = spec.kinds["model"]
    assert model.lifecycle("Creating") == "in_progress"
    assert model.lifecycle("Failed") == "failed"
    assert model.lifecycle("Active") == "ready"
    assert model.lifecycle(None) == "ready"
    assert spec.connect is bedrock.connect and model.deleter is bedrock.deleter


@pytest.mark.parametrize("name", ["m", "exp-7", "a_b-c", "A1b2", "x" * 63])
def test_id_rule_accepts_model_names(name: str) -> None:
    assert bedrock.MODEL.id_rule(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-lead",
        "a--b",
        "a_-b",
        "has space",
        "a/b",
        "name\n",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/m",
        "x" * 64,
    ],
)
def test_id_rule_refuses_what_is_not_a_model_name(name: str) -> None:
    reason = bedrock.MODEL.id_rule(name)
    assert reason and "custom model name" in reason


def test_record_from_a_full_aws_summary() -> None:
    created = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    record = bedrock.record_from(
        {
            "modelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/exp-1",
            "modelName": "exp-1",
            "creationTime": created,
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
            "baseModelName": "Nova Lite",
            "modelStatus": "Creating",
        }
    )
    assert record.id == record.name == "exp-1"
    assert record.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC
    assert record.base_model == "Nova Lite"
    assert (record.status, record.lifecycle, record.problem) == ("Creating", "in_progress", None)


def test_record_from_parses_defensively() -> None:
    assert bedrock.record_from("m1").problem == "listed item is not an object"
    assert bedrock.record_from({"modelName": 7}).problem == "listed item has no modelName"
    bad_name = bedrock.record_from({"modelName": "a b"})
    assert bad_name.id == "a b" and bad_name.problem and "custom model name" in bad_name.problem
    odd = bedrock.record_from(
        {
            "modelName": "m",
            "creationTime": "yesterday",
            "modelStatus": 3,
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b",
        }
    )
    assert odd.problem == "unreadable creationTime 'yesterday'"
    assert (odd.status, odd.lifecycle, odd.base_model) == (None, "ready", "meta.llama3-8b")
    text_time = bedrock.record_from({"modelName": "m", "creationTime": "2026-01-02T03:04:05Z"})
    assert text_time.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert bedrock.record_from({"modelName": "m"}).created_at is None


# -- against moto ---------------------------------------------------------------------------


def test_list_pages_through_every_model(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"exp-{i}" for i in range(7)]
    seed(moto, *names)
    monkeypatch.setattr(bedrock, "PAGE_SIZE", 2)
    limiters = CountingLimiters()
    provider = lister(moto.url, limiters)
    records = list(provider.list_models())
    assert sorted(r.id for r in records) == names
    assert limiters.acquired == 4  # pages of 2, 2, 2, 1: every request paced
    assert limiters.calls == [(f"aws:{KEY_ID}", moto.url, 600)]
    provider.close()


def test_records_from_moto(moto: MotoServer) -> None:
    # moto stamps creationTime with its local wall clock and no zone; naive is read as UTC.
    before = datetime.now().replace(microsecond=0, tzinfo=UTC)
    seed(moto, "exp-a")
    after = datetime.now().replace(tzinfo=UTC)
    (record,) = lister(moto.url).list_models()
    assert record.id == record.name == "exp-a"
    assert record.created_at is not None and record.created_at.tzinfo is UTC
    assert before <= record.created_at <= after
    assert record.base_model == BASE_MODEL
    # moto leaves modelStatus out of summaries; AWS always sends it.
    assert (record.status, record.lifecycle, record.problem) == (None, "ready", None)


def test_exists_and_details(moto: MotoServer) -> None:
    seed(moto, "exp-a")
    provider = lister(moto.url)
    assert provider.exists("exp-a") is True
    assert provider.exists("exp-nope") is False  # moto: HTTP 400 ResourceNotFoundException
    details = provider.details("exp-a")
    assert details["modelName"] == "exp-a"
    assert "ResponseMetadata" not in details
    assert isinstance(details["creationTime"], str) and details["creationTime"].endswith("Z")
    with pytest.raises(ProviderError) as caught:
        provider.details("exp-nope")
    assert "ResourceNotFoundException" in str(caught.value)
    assert_clean(str(caught.value))


def test_delete_then_gone_from_a_fresh_listing(moto: MotoServer) -> None:
    seed(moto, "exp-a", "exp-b")
    provider = lister(moto.url)
    result = bedrock.MODEL.deleter(provider).delete("exp-a")
    assert (result.result, result.http_status, result.attempts, result.error) == (
        "deleted",
        200,
        1,
        None,
    )
    assert [r.id for r in lister(moto.url).list_models()] == ["exp-b"]
    assert bedrock.MODEL.deleter(provider).exists("exp-a") is False


def test_delete_of_an_absent_name_is_already_absent(moto: MotoServer) -> None:
    result = bedrock.deleter(lister(moto.url)).delete("never-was")
    # moto answers 400 where AWS answers 404; the error code is what proves absence.
    assert (result.result, result.http_status, result.attempts) == ("already_absent", 400, 1)
    assert not result.transient


def test_delete_refuses_a_non_name_without_a_request(moto: MotoServer) -> None:
    limiters = CountingLimiters()
    result = bedrock.deleter(lister(moto.url, limiters)).delete("arn:aws:bedrock:x/y")
    assert result.result == "failed" and result.attempts == 0
    assert limiters.acquired == 0


def test_deleter_wants_a_bedrock_lister() -> None:
    with pytest.raises(TypeError):
        bedrock.deleter(object())  # type: ignore[arg-type]


# -- answers moto cannot give: a stub over real HTTP --------------------------------------------


def test_throttled_delete_fails_transient_after_botocore_retries() -> None:
    limiters = CountingLimiters()
    with stub(lambda seen: aws_error("ThrottlingException", "Rate exceeded", 429)) as server:
        result = bedrock.deleter(lister(server.url, limiters)).delete("exp-a")
    assert result.result == "failed" and result.transient
    assert result.http_status == 429
    assert result.attempts == bedrock.MAX_ATTEMPTS == len(server.seen)
    assert limiters.acquired == bedrock.MAX_ATTEMPTS  # retries are paced too
    assert (
        result.error and "ThrottlingException" in result.error and "Rate exceeded" in result.error
    )


def test_throttled_once_then_deleted() -> None:
    answers = [aws_error("ThrottlingException", "Rate exceeded", 400), Reply(200, {})]
    with stub(lambda seen: answers.pop(0)) as server:
        result = bedrock.deleter(lister(server.url)).delete("exp-a")
    assert (result.result, result.http_status, result.attempts) == ("deleted", 200, 2)
    assert [(s.method, s.path) for s in server.seen] == [("DELETE", "/custom-models/exp-a")] * 2


def test_server_errors_fail_transient() -> None:
    with stub(lambda seen: aws_error("InternalServerException", "oops", 500)) as server:
        result = bedrock.deleter(lister(server.url)).delete("exp-a")
    assert (result.result, result.http_status, result.transient) == ("failed", 500, True)


def test_conflict_says_what_to_delete_first() -> None:
    with stub(lambda seen: aws_error("ConflictException", "Model is in use", 400)) as server:
        result = bedrock.deleter(lister(server.url)).delete("distilled-1")
    assert result.result == "failed" and not result.transient and result.attempts == 1
    assert result.error and "Provisioned Throughput" in result.error
    assert "ConflictException" in result.error and "Model is in use" in result.error


@pytest.mark.parametrize(
    ("code", "status"), [("ValidationException", 400), ("AccessDeniedException", 403)]
)
def test_other_refusals_fail(code: str, status: int) -> None:
    with stub(lambda seen: aws_error(code, f"{code} says no", status)) as server:
        result = bedrock.deleter(lister(server.url)).delete("exp-a")
    assert (result.result, result.http_status, result.transient) == ("failed", status, False)
    assert result.error and code in result.error
    assert_clean(result.error)


def test_a_bare_404_is_not_proof_of_absence() -> None:
    with stub(lambda seen: Reply(404, {"message": "no route"})) as server:
        result = bedrock.deleter(lister(server.url)).delete("exp-a")
    assert result.result == "failed"


def test_dropped_connection_on_delete_is_outcome_unknown() -> None:
    with stub(lambda seen: DROP) as server, pytest.raises(OutcomeUnknown) as caught:
        bedrock.deleter(lister(server.url)).delete("exp-a")
    assert caught.value.sent is True
    assert len(server.seen) == bedrock.MAX_ATTEMPTS
    assert "aws-test" in str(caught.value)
    assert_clean(str(caught.value))


def test_not_found_after_a_lost_answer_is_not_already_absent() -> None:
    # The first attempt may have deleted it; the retry's not-found proves nothing then.
    answers: list[Reply | str] = [DROP, aws_error("ResourceNotFoundException", "gone", 404)]
    with stub(lambda seen: answers.pop(0)) as server, pytest.raises(OutcomeUnknown) as caught:
        bedrock.deleter(lister(server.url)).delete("exp-a")
    assert caught.value.sent is True and len(server.seen) == 2


def test_nothing_listening(nowhere: str) -> None:
    url = nowhere
    provider = lister(url)
    with pytest.raises(OutcomeUnknown) as unknown:
        bedrock.deleter(provider).delete("exp-a")
    assert unknown.value.sent is False  # refused: surely never reached AWS
    with pytest.raises(ProviderError) as caught:
        list(provider.list_models())
    message = str(caught.value)
    # Our words and one line; what follows them is botocore's, which may change.
    assert message.startswith(
        "connection aws-test: listing custom models (ListCustomModels) failed: "
    )
    assert not caught.value.auth and "\n" not in message
    assert_clean(message)


def test_not_found_on_the_listing_itself_is_a_provider_error() -> None:
    gone = aws_error("ResourceNotFoundException", "no such API", 404)
    with stub(lambda seen: gone) as server, pytest.raises(ProviderError) as caught:
        list(lister(server.url).list_models())
    assert "ResourceNotFoundException (HTTP 404): no such API" in str(caught.value)


def test_lookups_refuse_a_non_name_without_a_request(nowhere: str) -> None:
    limiters = CountingLimiters()
    provider = lister(nowhere, limiters)
    with pytest.raises(ProviderError, match="custom model name"):
        provider.exists("a/b")
    assert limiters.acquired == 0


def test_a_repeated_page_token_stops_the_listing() -> None:
    def page(seen: Seen) -> Reply:
        return Reply(200, {"modelSummaries": [{"modelName": "m"}], "nextToken": "loop"})

    with stub(page) as server, pytest.raises(ProviderError) as caught:
        list(lister(server.url).list_models())
    assert "came back twice" in str(caught.value)
    assert len(server.seen) == 2
    assert_clean(str(caught.value))


def test_a_token_cycle_stops_the_listing() -> None:
    following = {"": "a", "a": "b", "b": "a"}

    def page(seen: Seen) -> Reply:
        token = following[seen.query.get("nextToken", [""])[0]]
        return Reply(200, {"modelSummaries": [], "nextToken": token})

    with stub(page) as server, pytest.raises(ProviderError, match="came back twice"):
        list(lister(server.url).list_models())
    assert len(server.seen) == 3


def test_statuses_and_odd_items_from_the_wire() -> None:
    summaries = [
        {"modelName": "ready-1", "creationTime": 1767225600, "modelStatus": "Active"},
        {"modelName": "busy-1", "creationTime": "2026-01-01T00:00:00Z", "modelStatus": "Creating"},
        {"modelName": "bad-1", "modelStatus": "Failed", "baseModelName": "Nova"},
        {"modelName": "new-1", "modelStatus": "Retiring"},
        {"creationTime": "2026-01-01T00:00:00Z"},
    ]
    with stub(lambda seen: Reply(200, {"modelSummaries": summaries})) as server:
        records = list(lister(server.url).list_models())
    assert server.seen[0].query["isOwned"] == ["true"]
    assert [(r.id, r.status, r.lifecycle) for r in records] == [
        ("ready-1", "Active", "ready"),
        ("busy-1", "Creating", "in_progress"),
        ("bad-1", "Failed", "failed"),
        ("new-1", "Retiring", "unknown"),  # a word the list lacks is never selected
        ("", None, "ready"),
    ]
    assert records[0].created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert records[2].base_model == "Nova"
    assert records[4].problem == "listed item has no modelName"


def test_an_unparseable_answer_is_one_line() -> None:
    answer = Reply(200, {"modelSummaries": [{"modelName": "m", "creationTime": "garbage"}]})
    with stub(lambda seen: answer) as server, pytest.raises(ProviderError) as caught:
        list(lister(server.url).list_models())
    assert "unreadable answer" in str(caught.value)
    assert_clean(str(caught.value))


def test_throttled_listing_is_a_provider_error() -> None:
    throttle = aws_error("ThrottlingException", "Rate exceeded", 429)
    with stub(lambda seen: throttle) as server, pytest.raises(ProviderError) as caught:
        list(lister(server.url).list_models())
    assert not caught.value.auth and len(server.seen) == bedrock.MAX_ATTEMPTS
    assert "ThrottlingException (HTTP 429): Rate exceeded" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 403),
        ("UnrecognizedClientException", 403),
        ("InvalidSignatureException", 403),
    ],
)
def test_rejected_credentials_are_auth_errors_and_never_echoed(code: str, status: int) -> None:
    # Even a server that echoes the secret back cannot put it in a message.
    echo = aws_error(code, f"bad request signed with {SECRET} by {KEY_ID}", status)
    with stub(lambda seen: echo) as server:
        provider = lister(server.url)
        with pytest.raises(ProviderError) as listing:
            list(provider.list_models())
        with pytest.raises(ProviderError) as looking:
            provider.exists("exp-a")
        result = bedrock.deleter(provider).delete("exp-a")
    for error in (listing.value, looking.value):
        assert error.auth
        assert code in str(error) and "[REDACTED]" in str(error)
        assert_clean(str(error))
    assert result.result == "failed" and result.error
    assert_clean(result.error)


def test_retry_attempts_follow_the_connect_policy() -> None:
    class Policy:
        attempts = 2
        connect_timeout = 1.0
        read_timeout = 1.0

    with stub(lambda seen: aws_error("ThrottlingException", "slow down", 429)) as server:
        provider = bedrock.connect(
            connection(server.url), None, ConnectOptions(CountingLimiters(), policy=Policy())
        )
        result = bedrock.deleter(provider).delete("exp-a")
    assert result.attempts == 2 == len(server.seen)


# -- credentials and configuration ----------------------------------------------------------


def test_missing_credentials(nowhere: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    limiters = CountingLimiters()
    with pytest.raises(ProviderError) as caught:
        lister(nowhere, limiters)
    assert caught.value.auth
    assert str(caught.value) == (
        "connection aws-test: no AWS credentials found (environment, profile or instance role)"
    )
    assert limiters.calls == []  # refused before any request


def test_unknown_profile(nowhere: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProviderError) as caught:
        lister(nowhere, profile="nobody")
    assert caught.value.auth and "'nobody'" in str(caught.value)
    assert_clean(str(caught.value))


def test_profile_credentials_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[cleanup]\naws_access_key_id = AKIAPROFILE0001\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    limiters = CountingLimiters()
    with stub(lambda seen: Reply(200, {"modelSummaries": []})) as server:
        assert list(lister(server.url, limiters, profile="cleanup").list_models()) == []
    assert limiters.calls[0][0] == "aws:AKIAPROFILE0001"


def test_a_malformed_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        lister("not a url")
    assert str(caught.value).startswith("connection aws-test: ")
    assert_clean(str(caught.value))


def test_region_is_required() -> None:
    conn = Connection(
        name="aws-test",
        type="bedrock",
        api_key_env=None,
        base_url=None,
        concurrency=1,
        requests_per_minute=60,
        options={},
    )
    with pytest.raises(ConfigError, match="region"):
        bedrock.connect(conn, None, ConnectOptions(Limiters()))


def test_imports_and_explains_without_boto3() -> None:
    program = textwrap.dedent(
        """
        import sys

        class NoBoto:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in ("boto3", "botocore"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoBoto())
        from runner.errors import ConfigError
        from runner.jobfile.model import Connection
        from runner.providers import bedrock
        from runner.providers.base import ConnectOptions
        from runner.ratelimit import Limiters

        assert bedrock.SPEC.type == "bedrock"
        conn = Connection(name="aws-prod", type="bedrock", api_key_env=None, base_url=None,
                          concurrency=1, requests_per_minute=60,
                          options={"region": "us-east-1"})
        try:
            bedrock.SPEC.connect(conn, None, ConnectOptions(Limiters()))
        except ConfigError as error:
            print(error)
        else:
            sys.exit("connect did not raise ConfigError")
        assert not any(m.partition(".")[0] in ("boto3", "botocore") for m in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "connection aws-prod: the bedrock provider needs botocore: pip install 'ftjanitor[bedrock]'"
    )
