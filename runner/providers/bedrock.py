"""AWS Bedrock custom models via botocore: ListCustomModels, GetCustomModel, DeleteCustomModel.

botocore (the AWS SDK's core, which boto3 wraps) is the optional extra ``ftjanitor[bedrock]``.
This module imports it only inside ``connect``, so ``validate``, the schema and every other
provider work without it. boto3 itself is not imported: its sessions add nothing a client
needs here, and importing it (with s3transfer and multiprocessing) costs about 60 ms of
every start-up.

Credentials come from the AWS chain (environment, profile, SSO, instance or pod role) and
never from the job file; they never appear in a message either. botocore's "standard"
retry mode retries throttling, 5xx and dropped connections; on top of that every HTTP
attempt (retries and pages included) is paced by the shared ``Limiters``.

A delete whose answer may have been lost is never called "already absent" on the strength
of a later retry's ResourceNotFoundException: it raises ``OutcomeUnknown`` so the caller
settles it by looking.
"""

import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

from runner import __version__
from runner.clock import rfc3339
from runner.cost import PriceFact
from runner.errors import ConfigError
from runner.providers.base import (
    ConnectOptions,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    OutcomeUnknown,
    ProviderError,
    ProviderSpecOf,
    RetryPolicy,
    Tags,
    TagSource,
    TagsUnknown,
    itself,
)
from runner.providers.mapping import (
    SDK_DATETIME,
    Id,
    RecordMap,
    Text,
    Time,
    map_records,
    read_tags,
    text_or_none,
    utc,
)
from runner.providers.wire import one_line, unconfirmed
from runner.redaction import redact, secret_list
from runner.text import well_formed

if TYPE_CHECKING:
    import botocore.session
    from botocore.exceptions import ClientError
    from mypy_boto3_bedrock import BedrockClient

    from runner.jobfile.model import Connection

T = TypeVar("T")

PAGE_SIZE = 1000  # ListCustomModels' maxResults ceiling; tests shrink it to force pages
MAX_PAGES = 10_000  # a token chain longer than this is a loop of fresh tokens, not an account
MAX_ATTEMPTS = 5  # botocore "standard" mode: attempts in all, the first one included
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
NOT_FOUND = "ResourceNotFoundException"  # the only proof that a model is already absent

# Names as the ListCustomModels API defines them (CustomModelName): letters and digits, each
# optionally followed by one '-' or '_'. fullmatch, not '$', so a trailing newline fails.
_MODEL_NAME = re.compile(r"([0-9a-zA-Z][_-]?){1,63}")

_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "AuthFailure",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottledException",
        "InternalServerException",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# What botocore raises, unwrapped, when an answer does not parse (a bad timestamp, a
# string where a list belongs; dateutil's RuntimeError and Python's OverflowError or
# OSError for a number of seconds past what a datetime holds).
_UNREADABLE = (
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    RuntimeError,
    OverflowError,
    OSError,
)
_FOUNDATION_MODEL = re.compile(r":foundation-model/(.+)$")


_REGION = {
    "type": "string",
    "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$",
    "maxLength": 32,
    "x-error": "is not an AWS region like us-east-1",
}


def model_name_reason(model_id: str) -> str | None:
    """Why ``model_id`` cannot be a Bedrock custom model name (None when it can be)."""
    if _MODEL_NAME.fullmatch(model_id):
        return None
    return (
        "is not a Bedrock custom model name: 1 to 63 letters or digits, each optionally"
        " followed by one '-' or '_' (the modelName, not an ARN)"
    )


def arn_of(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("arn:") else None


def _foundation_model(arn: str) -> str | None:
    match = _FOUNDATION_MODEL.search(arn)
    return match.group(1) if match else None


# One CustomModelSummary. modelStatus is always sent by AWS; moto leaves it out.
CUSTOM_MODELS = RecordMap(
    id=Id("modelName", check=model_name_reason),
    name=Text("modelName"),
    status=Text("modelStatus"),
    created_at=Time("creationTime", SDK_DATETIME),
    # baseModelArn is required by the API too; its last segment is the name.
    base_model=(Text("baseModelName"), Text("baseModelArn", via=_foundation_model)),
    resource_name=Text("modelArn"),  # what ListTagsForResource takes
)


def record_from(item: Any) -> ModelRecord:
    """One CustomModelSummary -> a record, as the listing reads it (for a caller holding
    one summary); unusable items carry a reason, not a crash. ``CUSTOM_MODELS`` leaves no
    item out, so there is always one."""
    return next(map_records(CUSTOM_MODELS, (item,), MODEL))


def _plain(value: Any) -> Any:
    """GetCustomModel's answer as JSON-ready data: datetimes become RFC 3339 strings."""
    if isinstance(value, datetime):
        return rfc3339(utc(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _code(error: "ClientError") -> str:
    code = error.response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else ""


def _status(error: "ClientError") -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _attempts(response: Mapping[str, Any]) -> int:
    retries = response.get("ResponseMetadata", {}).get("RetryAttempts")
    return retries + 1 if isinstance(retries, int) and retries >= 0 else 1


def _is_transient(code: str, status: int | None) -> bool:
    return code in _TRANSIENT_CODES or status == 429 or (status is not None and status >= 500)


def _is_auth(code: str, status: int | None) -> bool:
    return code in _AUTH_CODES or status in (401, 403)


def _option(connection: "Connection", key: str) -> str | None:
    return text_or_none(connection.options.get(key))


class BedrockLister:
    """Lists, looks up and (through ``BedrockDeleter``) deletes custom models in one
    account and region. Thread-safe: one botocore client, per-thread retry notes."""

    def __init__(
        self,
        connection: "Connection",
        client: "BedrockClient",
        secrets: list[str],
        clients: Callable[..., Any] | None = None,
    ):
        self.spec = MODEL
        self.connection = connection
        self.client = client
        self.label = f"connection {connection.name}"
        self._secrets = secrets
        self._notes = threading.local()
        self._clients = clients
        # What this run's listings saw, for the usage source (CloudWatch names items by
        # ARN, the rules by name): custom model name -> ARN, PT name -> ARN, and custom
        # model ARN -> the ARNs of the PTs serving it (None: PTs not listed yet).
        self.model_arns: dict[str, str] = {}
        self.pt_arns: dict[str, str] = {}
        self.hosted_by: dict[str, tuple[str, ...]] | None = None
        self.pt_unnamed: str | None = None  # a PT listed without its ARN, for messages

    # -- messages -------------------------------------------------------------------------

    def line(self, text: str) -> str:
        """One line, credentials redacted before anything is cut."""
        return one_line(str(redact(text, self._secrets)))

    def describe(self, error: BaseException) -> str:
        """A client error as 'Code (HTTP n): message'; any other as its class and text."""
        from botocore.exceptions import ClientError

        if isinstance(error, ClientError):
            message = error.response.get("Error", {}).get("Message") or ""
            status = _status(error)
            head = _code(error) or "error"
            if status is not None:
                head += f" (HTTP {status})"
            return self.line(f"{head}: {message}" if message else head)
        return self.line(f"{type(error).__name__}: {error}")

    def _fail(self, what: str, error: BaseException) -> ProviderError:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(error, NoCredentialsError):
            return no_credentials(self.connection)
        auth = isinstance(error, ClientError) and _is_auth(_code(error), _status(error))
        return ProviderError(f"{self.label}: {what} failed: {self.describe(error)}", auth=auth)

    def call(self, what: str, call: Callable[[], T], *, not_found_passes: bool = False) -> T:
        """Runs one API call (or fetches one page): every failure becomes one
        ProviderError, except, when asked, a ResourceNotFoundException, which passes
        through as botocore's ClientError for the caller to read."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # botocore decodes JSON as json does: a lone surrogate escape stays one.
            return cast(T, well_formed(call()))
        except ClientError as error:
            if not_found_passes and _code(error) == NOT_FOUND:
                raise
            raise self._fail(what, error) from None
        except BotoCoreError as error:  # no answer, PaginationError, no credentials
            raise self._fail(what, error) from None
        except _UNREADABLE as error:  # botocore could not parse the answer
            raise ProviderError(
                f"{self.label}: {what}: unreadable answer: {self.describe(error)}"
            ) from None

    # -- Lister ---------------------------------------------------------------------------

    def list_models(self) -> Iterator[ModelRecord]:
        what = "listing custom models (ListCustomModels)"
        # isOwned: shared-in models belong to another account, not ours to delete.
        items = self.pages(what, "list_custom_models", "modelSummaries", isOwned=True)
        self.model_arns = {}
        yield from map_records(CUSTOM_MODELS, self._noting_arns(items), MODEL)

    def _noting_arns(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            if isinstance(item, Mapping):
                name, arn = item.get("modelName"), arn_of(item.get("modelArn"))
                if isinstance(name, str) and arn:
                    self.model_arns[name] = arn
            yield item

    def note_provisioned(self, summaries: list[Any]) -> None:
        """Remember what a listing of PTs said: each one's ARN, and which PTs serve each
        custom model (while one is updated to another model, it serves both)."""
        hosted: dict[str, list[str]] = {}
        self.pt_arns, self.pt_unnamed = {}, None
        for item in summaries:
            if not isinstance(item, Mapping):
                continue
            name, arn = item.get("provisionedModelName"), arn_of(item.get("provisionedModelArn"))
            if not arn:
                # Its use cannot be read, nor therefore that of the model it serves.
                self.pt_unnamed = one_line(repr(name)[:80])
                continue
            if isinstance(name, str):
                self.pt_arns[name] = arn
            for key in ("modelArn", "desiredModelArn"):
                if served := arn_of(item.get(key)):
                    hosted.setdefault(served, []).append(arn)
        self.hosted_by = {model: tuple(dict.fromkeys(pts)) for model, pts in hosted.items()}

    def usage_keys(self) -> dict[str, tuple[str, ...]]:
        """What CloudWatch's ModelId holds for each listed custom model's use: its own ARN
        (on demand) and those of the PTs serving it, as this run listed them (a model
        target lists the PTs too). Without that listing, no model's use is known."""
        hosted = self.hosted_by
        if hosted is None:
            raise ProviderError(
                f"{self.label}: the Provisioned Throughputs were not listed, so a model's use"
                " through one is unknown"
            )
        if self.pt_unnamed is not None:
            raise ProviderError(
                f"{self.label}: Provisioned Throughput {self.pt_unnamed} has no readable"
                " provisionedModelArn, so the use of the model it serves is unknown"
            )
        return {name: (arn, *hosted.get(arn, ())) for name, arn in self.model_arns.items()}

    @property
    def session(self) -> "BedrockLister":
        """The connection's session, which each kind's lister borrows: this one."""
        return self

    def aws_client(self, service: str, **options: Any) -> Any:
        """Another AWS service's client on this connection's session (same credentials,
        region, retries and pacing; ``options``: botocore Config fields on top); its
        endpoint is botocore's own configuration (``AWS_ENDPOINT_URL_CLOUDWATCH`` points
        CloudWatch at a local fake)."""
        if self._clients is None:
            raise ProviderError(f"{self.label}: no AWS session to reach {service} with")
        return self._clients(service, **options)

    def pages(
        self, what: str, operation: str, key: str, *, required: bool = False, **params: Any
    ) -> Iterator[Any]:
        """Every item under ``key`` across the pages of a list ``operation`` (its paginator,
        ``params`` sent with each page). Each failure, a malformed page and a page token
        that comes back twice stop with one line naming ``what`` (never an endless loop).
        ``required``: a page without ``key`` is malformed too (botocore reads a 200 that is
        not JSON as an empty page)."""
        paginator = self.client.get_paginator(operation)  # type: ignore[call-overload]
        pages = iter(
            paginator.paginate(
                **params, PaginationConfig={"PageSize": max(1, min(PAGE_SIZE, 1000))}
            )
        )
        seen: set[str] = set()
        for _ in range(MAX_PAGES + 1):  # the last read finds no page after the last
            page = self.call(what, lambda: next(pages, None))
            if page is None:
                return
            items: Any = page.get(key, None if required else [])
            if not isinstance(items, list):
                said = "is missing" if items is None else "is not a list"
                raise ProviderError(
                    f"{self.label}: {what} returned a malformed page ({key} {said})"
                )
            yield from items
            token: Any = page.get("nextToken")
            if isinstance(token, str) and token:
                if token in seen:
                    raise ProviderError(
                        f"{self.label}: {what}: a page token came back twice;"
                        " stopped listing to avoid an endless loop"
                    )
                seen.add(token)
        raise ProviderError(
            f"{self.label}: {what}: still paging after {MAX_PAGES} pages; stopped listing to"
            " avoid an endless loop"
        )

    def _get(self, model_id: str) -> Mapping[str, Any]:
        if reason := model_name_reason(model_id):
            raise ProviderError(f"{self.label}: {model_id!r} {reason}")
        what = f"looking up custom model {model_id} (GetCustomModel)"
        return self.call(
            what,
            lambda: self.client.get_custom_model(modelIdentifier=model_id),
            not_found_passes=True,
        )

    def exists(self, model_id: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._get(model_id)
        except ClientError as error:
            # Only ResourceNotFoundException gets here (AWS sends it as a 404, moto as a
            # 400): the error code is the proof, never the status.
            if _code(error) == NOT_FOUND:
                return False
            raise
        return True

    def details(self, model_id: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            model = self._get(model_id)
        except ClientError as error:
            raise self._fail(f"details of custom model {model_id}", error) from None
        plain = _plain(model)
        return plain if isinstance(plain, dict) else {}

    def lookup(self, what: str, call: Callable[[], Mapping[str, Any]]) -> dict[str, Any] | None:
        """One Get call's answer as JSON-ready data; None when its
        ResourceNotFoundException proves the item absent (the code, never the status)."""
        from botocore.exceptions import ClientError

        try:
            found = self.call(what, call, not_found_passes=True)
        except ClientError as error:
            if _code(error) == NOT_FOUND:
                return None
            raise
        plain = _plain(found)
        return plain if isinstance(plain, dict) else {}

    def tags_of(self, arn: str) -> Tags | TagsUnknown:
        """One item's tags (ListTagsForResource); a failure is unknown tags, never none."""
        what = "reading tags (ListTagsForResource)"
        try:
            answer = self.call(what, lambda: self.client.list_tags_for_resource(resourceARN=arn))
        except ProviderError as error:
            return TagsUnknown(str(error))
        return read_tags(answer.get("tags"), "tags")

    def close(self) -> None:
        self.client.close()

    # -- deleting (used by BedrockDeleter only) ------------------------------------------

    def note_attempt(self, caught_exception: BaseException | None = None, **_: Any) -> None:
        """botocore's needs-retry hook for DeleteCustomModel: remember, per thread, that an
        attempt failed in a way that may have reached AWS (the answer, not the request,
        was lost). Returns None: botocore's own retry handler decides about retrying."""
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        if caught_exception is not None and not isinstance(
            caught_exception, EndpointConnectionError | ConnectTimeoutError
        ):
            self._notes.maybe_applied = True

    def delete(self, model_id: str) -> DeleteResult:
        if reason := model_name_reason(model_id):
            return DeleteResult("failed", None, 0, self.line(f"refusing {model_id!r}: {reason}"))
        return self.delete_with(
            ("custom model", model_id),
            lambda: self.client.delete_custom_model(modelIdentifier=model_id),
            MODEL.delete_answer,
            "in use: delete its Provisioned Throughput and custom model deployments first",
        )

    def delete_with(
        self,
        item: tuple[str, str],
        call: Callable[[], Mapping[str, Any]],
        answer: DeleteAnswer,
        in_use: str,
    ) -> DeleteResult:
        """One delete call of ``item`` (noun, ID), judged as every Bedrock delete is: the
        kind's ``answer`` deleted, ResourceNotFoundException already absent, a
        ConflictException failed with the ``in_use`` hint, a lost answer OutcomeUnknown.
        The operation's needs-retry hook must be ``note_attempt``."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        what = f"{item[0]} {item[1]}"
        self._notes.maybe_applied = False
        try:
            response = call()
        except ClientError as error:
            return self._delete_error(what, error, in_use)
        except NoCredentialsError:
            return DeleteResult("failed", None, 0, no_credentials(self.connection).args[0])
        except (BotoCoreError, *_UNREADABLE) as error:
            # Dropped or timed-out connections (after botocore's retries), unreadable answers.
            not_sent = isinstance(error, EndpointConnectionError | ConnectTimeoutError)
            sent = bool(getattr(self._notes, "maybe_applied", False)) or not not_sent
            raise OutcomeUnknown(
                f"{self.label}: no usable answer to deleting {what}: {self.describe(error)}",
                sent=sent,
            ) from None
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # botocore drops the body of an answer whose shape has no fields: what is left to
        # judge is the status and any field it did parse.
        said = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        if answer.confirms(status, said, item[1]):
            return DeleteResult("deleted", status, _attempts(response))
        return unconfirmed(status, self.line(repr(_plain(said))), _attempts(response))

    def _delete_error(self, what: str, error: "ClientError", in_use: str) -> DeleteResult:
        code, status = _code(error), _status(error)
        attempts = _attempts(error.response)
        message = self.describe(error)
        maybe_applied = bool(getattr(self._notes, "maybe_applied", False))
        if maybe_applied and (code == NOT_FOUND or _is_transient(code, status)):
            # An earlier attempt lost its answer: it may have been the one that deleted it.
            raise OutcomeUnknown(
                f"{self.label}: deleting {what}: an attempt lost its answer"
                f" and the last one said {message}",
                sent=True,
            )
        if code == NOT_FOUND:
            return DeleteResult("already_absent", status, attempts)
        if _is_transient(code, status):
            return DeleteResult("failed", status, attempts, message, transient=True)
        if code == "ConflictException":
            # The hint goes first: one_line cuts long AWS messages at 200 characters.
            message = self.line(f"{in_use} (AWS: {message})")
        return DeleteResult("failed", status, attempts, message)


class BedrockDeleter:
    """The only object that can delete: built from a lister by ``deleter`` in a real run."""

    def __init__(self, lister: BedrockLister):
        self.lister = lister

    def delete(self, model_id: str) -> DeleteResult:
        return self.lister.delete(model_id)

    def exists(self, model_id: str) -> bool:
        return self.lister.exists(model_id)


def no_credentials(connection: "Connection") -> ProviderError:
    return ProviderError(
        f"connection {connection.name}: no AWS credentials found"
        " (environment, profile or instance role)",
        auth=True,
    )


def connect(connection: "Connection", secret: str | None, options: ConnectOptions) -> BedrockLister:
    """A lister on one account and region. ``secret`` is unused: AWS has its own chain."""
    label = f"connection {connection.name}"
    try:
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
    except ImportError:
        raise ConfigError(
            f"{label}: the bedrock provider needs botocore: pip install 'ftjanitor[bedrock]'"
        ) from None

    region = _option(connection, "region")
    if region is None:
        raise ConfigError(f"{label}: region is required for type bedrock")
    endpoint_url = _option(connection, "endpoint_url")
    profile = _option(connection, "profile")
    role_arn = _option(connection, "role_arn")

    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # a missing profile is found here, as boto3 finds it
    except ProfileNotFound:
        raise ProviderError(
            f"{label}: AWS profile {profile!r} is not in the AWS config or credentials files",
            auth=True,
        ) from None
    # The credentials every message is redacted of: the first ones, and each set a role's
    # refresh brings later (the list is the lister's own, so it sees them as they come).
    secrets: list[str] = []

    def known(values: Iterable[str]) -> None:
        secrets[:] = secret_list([*secrets, *values])

    if role_arn is not None:
        external_id = _option(connection, "external_id")
        session = assumed_role(session, role_arn, external_id, region, known)
    try:
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except ClientError as error:  # only an AssumeRole answers so here
        # The role and AWS's error code, never the credentials. Not an auth failure of
        # the file's making: this connection fails, the others go on (exit 1).
        raise ProviderError(
            f"{label}: cannot assume role {role_arn}: {_code(error) or 'error'}"
            f" (HTTP {_status(error)})"
        ) from None
    except BotoCoreError as error:  # SSO token expired, credential_process failed, ...
        # Only the class: a credential_process's output could hold anything.
        raise ProviderError(
            f"{label}: could not load AWS credentials ({type(error).__name__});"
            " check the profile's credential source (expired SSO login?)",
            auth=True,
        ) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise no_credentials(connection)
    # The key ID is no secret, but it is part of the credentials: no message shows it either.
    known(v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v)

    policy = options.policy or RetryPolicy(
        attempts=MAX_ATTEMPTS, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT
    )
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max(1, policy.attempts)},
        max_pool_connections=max(1, connection.concurrency),
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        user_agent_extra=f"ftjanitor/{__version__}",
    )
    try:
        client = session.create_client(
            "bedrock", region_name=region, endpoint_url=endpoint_url, config=config
        )
    except (BotoCoreError, ValueError) as error:  # a malformed endpoint_url or region
        raise ConfigError(f"{label}: {one_line(str(redact(str(error), secrets)))}") from None

    def paced(client: Any, service: str) -> Any:
        # Every HTTP attempt (pages and botocore's retries included) waits for its slot
        # before it is signed, so a long wait can never outlive a signature.
        limiter = options.limiters.get(
            f"aws:{frozen.access_key}", client.meta.endpoint_url, connection.requests_per_minute
        )

        def pace(**_: Any) -> None:
            limiter.acquire()

        client.meta.events.register_first(f"request-created.{service}", pace)
        return client

    def other(service: str, **settings: Any) -> Any:
        # No endpoint_url: that is Bedrock's; botocore finds the service's own.
        own = config.merge(Config(**settings)) if settings else config
        made = session.create_client(service, region_name=region, config=own)
        return paced(made, service)

    lister = BedrockLister(connection, paced(client, "bedrock"), secrets, other)
    client.meta.events.register("needs-retry.bedrock.DeleteCustomModel", lister.note_attempt)
    return lister


def listed_tags(
    session: BedrockLister, records: Sequence[ModelRecord]
) -> dict[str, Tags | TagsUnknown]:
    """Each record's tags by ID, one ListTagsForResource per ARN (the API takes one), at
    most the connection's ``concurrency`` at once and each paced by its limiter."""
    wanted = [(r.id, r.resource_name) for r in records if r.id and r.resource_name]
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, session.connection.concurrency)) as pool:
        found = pool.map(session.tags_of, [arn for _, arn in wanted])
        return {model_id: tags for (model_id, _), tags in zip(wanted, found, strict=True)}


TAGS = "ListTagsForResource"
SESSION_NAME = "ftjanitor"  # what CloudTrail shows as the assumed role's session


def assumed_role(
    source: "botocore.session.Session",
    role_arn: str,
    external_id: str | None,
    region: str,
    fetched: Callable[[Iterable[str]], None],
) -> "botocore.session.Session":
    """A session whose credentials are ``role_arn`` assumed through STS with the source
    session's credentials, refreshed by botocore before they expire (its own
    AssumeRoleCredentialFetcher and refreshable credentials, as a profile's role_arn
    gets). STS is reached as botocore configures it (``AWS_ENDPOINT_URL_STS``). Each set of
    credentials STS hands out, the refreshed ones included, is told to ``fetched``."""
    import botocore.session
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        CredentialProvider,
        DeferredRefreshableCredentials,
    )

    source_credentials = source.get_credentials()
    if source_credentials is None:
        return source  # no credentials to assume it with: reported as missing ones
    extra: dict[str, Any] = {"RoleSessionName": SESSION_NAME}
    if external_id is not None:
        extra["ExternalId"] = external_id
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=functools.partial(source.create_client, region_name=region),
        source_credentials=source_credentials,
        role_arn=role_arn,
        extra_args=extra,
    )

    def fetch() -> dict[str, Any]:
        answer: dict[str, Any] = fetcher.fetch_credentials()
        fetched(str(answer[k]) for k in ("access_key", "secret_key", "token") if answer.get(k))
        return answer

    class Role(CredentialProvider):
        METHOD = CANONICAL_NAME = "assume-role"

        def load(self) -> DeferredRefreshableCredentials:
            return DeferredRefreshableCredentials(fetch, self.METHOD)

    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", Role())
    return core


def deleter(lister: BedrockLister) -> BedrockDeleter:
    # Checked still: some callers are not (a test hands it anything).
    if not isinstance(lister, BedrockLister):
        raise TypeError(f"a bedrock deleter needs a bedrock lister, not {type(lister).__name__}")
    return BedrockDeleter(lister)


MODEL = KindSpecOf(
    type="bedrock",
    kind="model",
    listed="custom models (ListCustomModels)",
    deleted="the custom model (DeleteCustomModel)",
    lister=itself,
    deleter=deleter,
    delete_answer=DeleteAnswer(),  # DeleteCustomModel: HTTP 200, no fields
    statuses=("Active", "Creating", "Failed"),
    in_progress=frozenset({"Creating"}),
    failed=frozenset({"Failed"}),
    has_created_at=True,
    has_base_model=True,
    name_source="modelName",
    not_found_proof="error code ResourceNotFoundException",
    id_rule=model_name_reason,
    tags=TagSource(TAGS, listed_tags),
    usage="cloudwatch",  # Invocations by ModelId: its ARN, and its PTs'
    price=PriceFact(
        per_month=Decimal("1.95"),
        source="aws-samples amazon-bedrock-workshop#222 (custom model storage)",
        date="2026-12",
    ),
)

SPEC = ProviderSpecOf(
    type="bedrock",
    title="AWS Bedrock",
    credential="aws",
    default_api_key_env=None,
    default_base_url=None,
    # Control-plane calls; botocore's standard mode retries any ThrottlingException.
    default_requests_per_minute=600,
    connect=connect,
    kinds={"model": MODEL},
    connection_fields={
        "region": _REGION,
        "regions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": _REGION,
            "description": "one connection per region, named NAME/REGION",
        },
        # A URL field like any other (format uri): https, or http on loopback only.
        "endpoint_url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2048},
        "profile": {"type": "string", "minLength": 1, "maxLength": 128},
        "role_arn": {
            "type": "string",
            "pattern": r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$",
            "maxLength": 600,
            "x-error": "is not an IAM role ARN like arn:aws:iam::123456789012:role/NAME",
            "description": "a role assumed through STS (session name ftjanitor)",
        },
        "external_id": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$",
            "maxLength": 1224,
            "x-error": "is not an STS external ID (2 to 1224 of A-Z a-z 0-9 +=,.@:/_-)",
            "x-needs": "role_arn",  # sent with the AssumeRole call alone
        },
    },
    required_fields=("region",),
    expands={"regions": "region"},
    account_fields=("endpoint_url", "profile", "role_arn", "region"),
)
