"""The HTTP core reads the environment once per session, and still honours it."""

import pytest

from runner.errors import OutcomeUnknown
from runner.providers.http import HttpClient
from runner.ratelimit import RateLimiter
from runner.simulator import Simulator
from tests.conftest import COHERE_KEY, FAST
from tests.helpers import refused_port

PATH = "/v1/finetuning/finetuned-models"


def client(sim: Simulator) -> HttpClient:
    return HttpClient(
        sim.url,
        {"Authorization": f"Bearer {COHERE_KEY}"},
        limiter=RateLimiter(600_000),
        concurrency=1,
        policy=FAST,
    )


def test_a_proxy_in_the_environment_is_used(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with refused_port() as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http = client(sim)
        with pytest.raises(OutcomeUnknown):  # sent to the (refusing) proxy, not the host
            http.request("GET", PATH)
        http.close()


def test_no_proxy_names_the_host_and_it_is_reached_directly(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with refused_port() as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        http = client(sim)
        assert http.request("GET", PATH).status == 200
        http.close()
