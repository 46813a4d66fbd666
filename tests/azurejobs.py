"""An Azure OpenAI account in the simulator, and job files for it: shared by the azure_openai
tests (the CLI end to end, the official clients' proofs)."""

from pathlib import Path
from typing import Any

from runner.simulator import Accounts, Simulator, load_seed
from runner.simulator.azure_openai import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION
from tests.conftest import NOW
from tests.helpers import TEST_PACE, job_yaml, one_job, write_job

KEY = "aoai-data-plane-key"
TOKEN = "arm-token-0123456789abcdef"  # what management_token_env names in these tests
TOKEN_ENV = "FTJ_TEST_ARM_TOKEN"
BASE = "gpt-4o-mini-2024-07-18"
OLD = f"{BASE}.ft-0a0a0a0a0a0a0a0a"  # 90 days old, no deployment
SERVED = f"{BASE}.ft-5e5e5e5e5e5e5e5e"  # 60 days old, served by IDLE
YOUNG = f"{BASE}.ft-1b1b1b1b1b1b1b1b"  # 5 days old, served by BUSY
IDLE = "ft-idle"  # 50 days old, never called
BUSY = "ft-busy"  # 40 days old, called yesterday
BASE_DEPLOYMENT = "base-chat"  # a base model's deployment, 100 days old, never called
MODELS = [
    {"id": BASE, "age_days": 300},
    {"id": OLD, "age_days": 90},
    {"id": SERVED, "age_days": 60},
    {"id": YOUNG, "age_days": 5},
]
DEPLOYMENTS = [
    {"name": IDLE, "model": SERVED, "age_days": 50},
    {"name": BUSY, "model": YOUNG, "age_days": 40, "used_days_ago": [1, 20]},
    {"name": BASE_DEPLOYMENT, "model": BASE, "age_days": 100},
]
HOURLY = 1.70
MONTHLY = round(HOURLY * 730, 2)  # one deployment of a fine-tune, a month


def accounts(**config: Any) -> Accounts:
    """The account above; ``config`` is the simulator's (op_polls, page_size, ...)."""
    seed = {"model": MODELS, "deployment": DEPLOYMENTS, "config": [{"op_polls": 0, **config}]}
    return load_seed({"azure_openai": seed}, NOW)


def connection(sim: Simulator, **fields: Any) -> dict[str, Any]:
    """A connection to the simulator's account, with the ARM scope and a token variable."""
    url = sim.base_url("azure_openai")
    return {
        "type": "azure_openai",
        "endpoint": url,
        "subscription_id": SUBSCRIPTION,
        "resource_group": RESOURCE_GROUP,
        "account": ACCOUNT,
        "management_url": url,
        "management_token_env": TOKEN_ENV,
        "requests_per_minute": TEST_PACE,
        **fields,
    }


def azure_job(folder: Path, sim: Simulator, *targets: str, **fields: Any) -> str:
    """One job, ``cleanup``, of ``targets`` at connection ``az``."""
    conn = {k: v for k, v in connection(sim, **fields).items() if v is not None}
    return write_job(folder, job_yaml({"az": conn}, one_job("cleanup", list(targets))))
