"""Azure OpenAI fine-tuned models: the data plane's OpenAI wire under ``{endpoint}/openai``,
with the ``api-key`` header and ``api-version`` on every request (PROVIDERS.md).

``GET /openai/models`` lists base models and fine-tunes alike; only a model carrying
``fine_tune`` (its job's ID) is a fine-tune, and base models are never listed as
candidates. The GA authoring spec (2024-10-21) has no ``DELETE /openai/models/{id}``: where
that path answers 404 or 405 without naming the model, the model's fine-tuning job is
deleted instead (``DELETE /openai/fine_tuning/jobs/{job}``, 204), which removes the model.

The connection also reaches Azure's management plane when it names an ARM scope
(``subscription_id``, ``resource_group``, ``account``): its deployments
(``azure_openai_deployment.py``) and Azure Monitor (``runner/usage/azure_monitor.py``).
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runner.cost import PriceFact
from runner.errors import ConfigError
from runner.providers._azure_arm import (
    EXTRA,
    MANAGEMENT_URL,
    SCOPE_FIELDS,
    ArmClient,
    arm_client,
    credential_problem,
    manages,
)
from runner.providers.base import (
    THE_ID,
    ConnectOptions,
    DeleteAnswer,
    DeleteResult,
    ExtraCredential,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    ProviderSpecOf,
    itself,
    unsafe_id_reason,
)
from runner.providers.mapping import (
    ITS_ID,
    UNIX_SECONDS,
    Id,
    Only,
    RecordMap,
    Text,
    Time,
)
from runner.providers.wire import (
    CollectionLister,
    HttpDeleter,
    Response,
    delete_result,
    error_message,
    names_id,
    path_segment,
    unconfirmed,
)

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import HttpClient

API_VERSION = "2024-10-21"  # the data plane's GA version (DESIGN.md)
MODELS_PATH = "/openai/models"
JOBS_PATH = "/openai/fine_tuning/jobs"
FINE_TUNE = ".ft-"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._()-]{0,89}"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"


def fine_tune_id_reason(model_id: str) -> str | None:
    """Why an ID may not be deleted here: unsafe, or not a fine-tune (``BASE.ft-HEX``)."""
    if reason := unsafe_id_reason(model_id):
        return reason
    if FINE_TUNE not in model_id:
        return "Azure OpenAI fine-tune IDs look like BASE.ft-HEX (base models are never deleted)"
    return None


# No status: the list holds only fine-tunes that completed (the spec's Models_List), so a
# listed one is ready. IDs are checked by the kind's id_rule where a job file names them.
MODELS = RecordMap(
    id=Id("id"),
    name=(ITS_ID,),
    created_at=Time("created_at", UNIX_SECONDS),
    base_model=Text("model"),
    only=Only("fine_tune"),  # a base model has no job: never listed, never a candidate
)


class AzureModels(CollectionLister):
    """A connection's session: lists its fine-tuned models on the data plane (one unpaged
    collection, every read with the connection's api-version), and holds its management
    client (``arm``, None when the connection names no ARM scope)."""

    collection = MODELS_PATH
    api = "Azure OpenAI models API"
    records = MODELS

    def __init__(self, client: "HttpClient", connection: "Connection", arm: ArmClient | None):
        super().__init__(client, MODEL)
        self.connection = connection
        self.arm = arm
        self.params = {"api-version": str(connection.options.get("api_version", API_VERSION))}
        # This run's listing of the connection's deployments (the deployment kind's lister
        # keeps it here): a model's use is read through them without listing them again.
        self.deployments_listed: list[ModelRecord] | None = None

    def gone(self, response: Response) -> ProviderError:
        return ProviderError(
            f"{self.client.label}: the {self.api} answered HTTP {response.status} on"
            f" {MODELS_PATH} ({error_message(response)}): the endpoint or api_version is"
            " wrong (endpoint is https://RESOURCE.openai.azure.com, without /openai)"
        )

    def names_model(self, response: Response, model_id: str) -> bool:
        return names_model(response, model_id)

    def close(self) -> None:
        self.client.close()
        if self.arm is not None:
            self.arm.close()


def names_model(response: Response, model_id: str) -> bool:
    """Only a 404 whose message names the ID proves it absent: the 404 of a path the API
    does not serve ("Resource not found") says nothing about the model."""
    return response.status == 404 and names_id(error_message(response), model_id)


class AzureModelDeleter(HttpDeleter[AzureModels]):
    def delete(self, model_id: str) -> DeleteResult:
        lister = self.lister
        response = self.client.request("DELETE", lister.model_path(model_id), params=lister.params)
        absent = names_model(response, model_id)
        if response.status in (404, 405) and not absent:
            return self._by_job(model_id, response.attempts)
        if response.status == 204 and response.body is None:
            return DeleteResult("deleted", 204, response.attempts)
        return delete_result(MODEL.delete_answer, response, model_id, absent)

    def _by_job(self, model_id: str, attempts: int) -> DeleteResult:
        """The path is not served: delete the fine-tuning job that made the model."""
        model = self.lister.lookup(model_id)
        if model is None:
            return DeleteResult("already_absent", 404, attempts + 1)
        job = model.get("fine_tune")
        if not isinstance(job, str) or unsafe_id_reason(job):
            return DeleteResult(
                "failed", 404, attempts + 1,
                "DELETE /openai/models is not served here, and the model names no"
                " fine-tuning job (fine_tune) to delete instead",
            )  # fmt: skip
        response = self.client.request(
            "DELETE", f"{JOBS_PATH}/{path_segment(job)}", params=self.lister.params
        )
        tried = attempts + 1 + response.attempts
        if response.status == 204:
            return DeleteResult("deleted", 204, tried)
        if 200 <= response.status < 300 or (
            response.status == 404 and names_id(error_message(response), job)
        ):
            # The job is gone or said something else: only a lookup of the model settles it.
            return unconfirmed(response.status, response.text, tried)
        result = delete_result(MODEL.delete_answer, response, job, names_model=False)
        return DeleteResult(
            "failed", result.http_status, tried,
            f"deleting its fine-tuning job {job}: {result.error}", transient=result.transient,
        )  # fmt: skip


def _api_key(key: str) -> dict[str, str]:
    return {"api-key": key}


def connect(connection: "Connection", secret: str | None, options: ConnectOptions) -> AzureModels:
    from runner.providers.http import HttpClient

    endpoint = connection.options.get("endpoint")
    if not isinstance(endpoint, str) or secret is None:
        raise ConfigError(f"{connection.label}: azure_openai needs an endpoint and a key")
    endpoint = endpoint.rstrip("/")
    client = HttpClient(
        endpoint,
        _api_key(secret),
        limiter=options.limiters.get(secret, endpoint, connection.requests_per_minute),
        concurrency=connection.concurrency,
        policy=options.policy,
        label=f"{connection.name} ({endpoint})",
        notice=options.notice,
    )
    return AzureModels(
        client, connection, arm_client(connection, options) if manages(connection) else None
    )


MODEL = KindSpecOf(
    type="azure_openai",
    kind="model",
    listed="fine-tuned models (GET /openai/models, those with a fine_tune job)",
    deleted=(
        "the fine-tuned model (DELETE /openai/models/{id}, else its fine-tuning job"
        " DELETE /openai/fine_tuning/jobs/{job})"
    ),
    lister=itself,
    deleter=AzureModelDeleter,
    delete_answer=DeleteAnswer({"id": THE_ID, "object": "model", "deleted": True}),
    has_base_model=True,
    usage="azure_monitor_models",
    depends_on=("deployment",),
    name_source="the model ID",
    not_found_proof="a 404 whose message names the model ID",
    id_rule=fine_tune_id_reason,
    # A stored fine-tune costs nothing on Azure; its deployment is what is billed.
    price=PriceFact(
        per_month=Decimal(0),
        source="azure.microsoft.com/pricing/details/cognitive-services/openai-service",
        date="2026-12",
    ),
)


def _text_field(description: str, pattern: str = _NAME, **more: Any) -> Mapping[str, Any]:
    # x-error: the message says what is wanted, not the pattern that checks it.
    return {"type": "string", "pattern": f"^{pattern}$" if pattern != _ENV else _ENV,
            "maxLength": 128, "description": description,
            "x-error": f"is not {description}", **more}  # fmt: skip


SPEC = ProviderSpecOf(
    type="azure_openai",
    title="Azure OpenAI",
    credential="api_key",
    default_api_key_env="AZURE_OPENAI_API_KEY",
    default_base_url=None,  # the endpoint field says where
    # A guess: the data plane documents no limit for /openai/models; a 429 is honoured.
    default_requests_per_minute=300,
    connect=connect,
    kinds={"model": MODEL},
    connection_fields={
        "endpoint": {
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "description": "https://RESOURCE.openai.azure.com",
        },
        "api_version": _text_field(
            "the data plane's api-version",
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?",
            default=API_VERSION,
        ),
        "subscription_id": _text_field("the Azure subscription ID, for deployments and usage"),
        "resource_group": _text_field("the resource group of the account"),
        "management_url": {
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "default": MANAGEMENT_URL,
            "description": "Azure Resource Manager's URL",
        },
        "management_token_env": _text_field(
            f"a variable holding an ARM bearer token (else azure-identity, {EXTRA})", _ENV
        ),
    },
    required_fields=("endpoint",),
    hosting_fields=SCOPE_FIELDS,
    # With the common account: field (here the Cognitive Services account's name), they
    # say which account is reached: its state is kept under them (runner.accounts). The
    # endpoint is the account's own host (there is no base_url to say it).
    account_fields=("endpoint", "subscription_id", "resource_group"),
    extra_credential=ExtraCredential(
        f"for deployments and use: `management_token_env:`, or azure-identity (`{EXTRA}`)",
        credential_problem,
    ),
)
