"""Shared fixtures: a real simulator on 127.0.0.1 and connections pointing at it."""

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.jobfile.model import Connection
from runner.providers import REGISTRY
from runner.providers.base import ConnectOptions, Deleter, Lister
from runner.providers.http import RetryPolicy
from runner.ratelimit import Limiters
from runner.simulator import Accounts, Simulator, load_seed
from tests.motoserver import SEED_KEY_ID, SEED_SECRET, MotoServer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COHERE_KEY = "co-test-key-5f0a9e77d1"
BFL_KEY = "bfl-test-key-93be1c02aa"
# Real waits are for production; tests keep the retry logic but not the seconds.
FAST = RetryPolicy(backoff_factor=0.001, backoff_jitter=0.0, retry_after_max=1, read_timeout=5.0)
pytest_plugins = [
    "tests.pgserver",  # a throwaway PostgreSQL server for the state tests
    "tests.browser",  # Debian's chromium under Playwright, for the report and status page
]
SEED = Path(__file__).resolve().parent.parent / "scripts" / "demo-seed.yaml"


WATCHED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Examples the property tests ran and what they met, printed at the end of the session.
PROPERTY_TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if PROPERTY_TALLY:
        parts = ", ".join(f"{key} {value}" for key, value in sorted(PROPERTY_TALLY.items()))
        terminalreporter.write_line(f"property tally: {parts}")


@pytest.fixture(autouse=True)
def no_signal_handlers_left_behind() -> Iterator[None]:
    """A test that installs a SIGINT/SIGTERM/SIGHUP handler must restore the previous one:
    a leftover handler changes how every later test (and Ctrl-C on pytest) behaves."""
    before = {signum: signal.getsignal(signum) for signum in WATCHED_SIGNALS}
    yield
    after = {signum: signal.getsignal(signum) for signum in WATCHED_SIGNALS}
    for signum, handler in before.items():
        signal.signal(signum, handler)
    changed = [signal.Signals(s).name for s in WATCHED_SIGNALS if after[s] != before[s]]
    assert not changed, f"the test left handlers installed for {', '.join(changed)}"


@pytest.fixture(autouse=True, scope="session")
def simulators_stop_at_once() -> Iterator[None]:
    """socketserver's serve_forever looks for a shutdown request every 0.5 s, so each
    simulator took half a second to stop: a minute over the suite. Tests poll faster."""
    from http.server import ThreadingHTTPServer

    from runner.simulator import core

    def serve_forever(self: ThreadingHTTPServer, poll_interval: float = 0.01) -> None:
        ThreadingHTTPServer.serve_forever(self, poll_interval)

    core._Server.serve_forever = serve_forever  # type: ignore[method-assign]
    yield
    del core._Server.serve_forever


def seed_accounts() -> Accounts:
    import yaml

    return load_seed(yaml.safe_load(SEED.read_text()), NOW, demos=True)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as server:
        yield server


def connection(sim: Simulator, kind: str, **extra: object) -> Connection:
    fields: dict[str, object] = {
        "name": kind,
        "type": kind,
        "api_key_env": f"{kind.upper()}_API_KEY",
        "base_url": sim.url,
        "concurrency": 4,
        "requests_per_minute": 600_000,
    }
    fields.update(extra)
    return Connection(**fields)  # type: ignore[arg-type]


class Both:
    """A lister and its deleter, for tests that exercise a provider's whole interface."""

    def __init__(self, lister: Lister):
        self.lister = lister
        self.deleter: Deleter = lister.spec.deleter(lister)

    def __getattr__(self, name: str) -> object:
        return getattr(self.deleter if name == "delete" else self.lister, name)


def provider(sim: Simulator, kind: str, key: str | None = None, **extra: object) -> Both:
    default = COHERE_KEY if kind == "cohere" else BFL_KEY
    options = ConnectOptions(Limiters(), FAST)
    return Both(REGISTRY[kind].connect(connection(sim, kind, **extra), key or default, options))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every simulated HTTP type's API key in the environment, as the simulator takes it."""
    from tests.simjobs import KEYS  # imported here: simjobs imports this module

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SEED_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SEED_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with MotoServer() as server:
        yield server


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started: SIGKILLed if a failing test left them running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(10)
