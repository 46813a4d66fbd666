"""A hostile-user pass over ``kind: deployment`` and what ties it to models (issues 17 and
19), through the CLI against the simulator where a listing can be bent that far:

- a link ARM hands back (``nextLink``, an operation URL) is followed only as an absolute
  URL under the management URL: the base and a path are joined as text, so anything else
  could name another host.
"""

import pytest

from runner.errors import ProviderError
from runner.providers._azure_arm import ArmClient, Token
from runner.providers.http import HttpClient
from runner.ratelimit import RateLimiter
from runner.simulator import Simulator, load_seed
from tests.conftest import NOW

pytestmark = pytest.mark.timeout(120)

# -- ARM links ---------------------------------------------------------------------------------


class FixedToken:
    def token(self) -> Token:
        return Token("arm-hostile-token", None)


@pytest.mark.parametrize(
    "link",
    [
        "@127.0.0.1:{other}/steal",  # base + link: a userinfo, then the other server
        ".evil.example/steal",  # base + link: another host name
        ":{other}/steal",
        "127.0.0.1:{other}/steal",
        "?api-version=1",
        "https://127.0.0.1:{other}/steal",
    ],
)
def test_an_arm_link_that_is_not_a_url_under_the_management_url_is_never_followed(
    link: str,
) -> None:
    with Simulator(load_seed({}, NOW)) as own, Simulator(load_seed({}, NOW)) as other:
        base = own.url  # no path: ARM's own shape (https://management.azure.com)

        def make(token: str, mutating: bool) -> HttpClient:
            auth = {"Authorization": f"Bearer {token}"}
            return HttpClient(base, auth, limiter=RateLimiter(600_000), concurrency=1)

        arm = ArmClient(base, FixedToken(), make, label="az")
        target = link.format(other=other.url.rsplit(":", 1)[1])
        with pytest.raises(ProviderError) as caught:
            arm.request("GET", target)
        assert "the token is never sent elsewhere" in str(caught.value)
        assert arm.request("GET", "/subscriptions").status  # a path still goes
        arm.close()
        assert other.requests == []
        assert [r.path for r in own.requests] == ["/subscriptions"]
