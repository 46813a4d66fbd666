"""Azure's management credential (issue 19): a bearer token asked for again before it
expires, and once more when ARM refuses it as expired mid-run; a link off the management
URL never gets it. Real HTTP to the simulator, which counts each token's uses."""

from collections.abc import Iterator

import pytest

from runner.jobfile.model import Connection
from runner.providers import REGISTRY
from runner.providers._azure_arm import REFRESH_BEFORE, Token, arm_client
from runner.providers.azure_openai import AzureModels
from runner.providers.azure_openai_deployment import Deployments
from runner.providers.base import ConnectOptions, ProviderError
from runner.ratelimit import Limiters
from runner.simulator import Simulator
from runner.simulator.azure_openai import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION
from tests.azurejobs import BUSY, IDLE, KEY, accounts
from tests.conftest import FAST

OPTIONS = ConnectOptions(Limiters(), FAST)


class Tokens:
    """Hands out the given tokens in turn, each expiring at the given time."""

    def __init__(self, *tokens: Token):
        self.tokens = list(tokens)
        self.asked = 0

    def token(self) -> Token:
        self.asked += 1
        return self.tokens.pop(0)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # Three pages of one deployment each; "t1" is good for two requests, "t2" for ever.
    seeded = accounts(page_size=1, tokens={"t1": 2, "t2": None})
    with Simulator(seeded, keys={"azure_openai": KEY}) as server:
        yield server


def deployments(sim: Simulator, tokens: Tokens, clock: float = 0.0) -> Deployments:
    url = sim.base_url("azure_openai")
    options = {
        "endpoint": url, "subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
        "account": ACCOUNT, "management_url": url, "management_token_env": "UNUSED",
    }  # fmt: skip
    connection = Connection("az", "azure_openai", "AZURE_OPENAI_API_KEY", None, 1, 600000, options)
    session = REGISTRY["azure_openai"].connect(connection, KEY, OPTIONS)
    assert isinstance(session, AzureModels)
    session.arm = arm_client(connection, OPTIONS, source=tokens, clock=lambda: clock)
    return Deployments(session)


def test_a_token_that_expires_mid_listing_is_replaced_and_the_listing_goes_on(
    sim: Simulator,
) -> None:
    tokens = Tokens(Token("t1", None), Token("t2", None))
    listed = deployments(sim, tokens).listed()
    assert [d["name"] for d in listed] == [IDLE, BUSY, "base-chat"]
    assert tokens.asked == 2
    refused = [r for r in sim.requests if r.status == 401]
    assert len(refused) == 1  # the third page, once, with the expired token


def test_a_token_near_its_expiry_is_replaced_before_it_is_used(sim: Simulator) -> None:
    tokens = Tokens(Token("t1", 1000.0 + REFRESH_BEFORE + 60), Token("t2", 1000.0 + 3600 * 2))
    lister = deployments(sim, tokens, clock=1000.0)
    assert lister.exists(IDLE)
    assert tokens.asked == 1
    near = Tokens(Token("t1", 1000.0 + REFRESH_BEFORE - 1), Token("t2", None))
    close = deployments(sim, near, clock=1000.0)
    assert close.exists(IDLE) and close.exists(BUSY)
    assert near.asked == 2  # t1, then t2 before t1's last minutes
    assert [r.status for r in sim.requests if r.status == 401] == []


def test_a_refused_token_that_is_not_expired_is_not_retried(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        deployments(sim, Tokens(Token("forged", None), Token("t2", None))).listed()
    assert "HTTP 401" in str(caught.value) and "forged" not in str(caught.value)
