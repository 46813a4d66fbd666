"""A webhook URL goes exactly where it was checked to go (issue 16, item 12).

Each URL of the table is either refused by ``resolve_urls`` (one line naming the variable,
never any part of the URL), or accepted and then really POSTed by the Notifier; a spy on
urllib3's ``create_connection`` (it calls the real one) records every address a connection
was opened to, and a local receiver records the path it was asked for. Every connection
must go to the host and port ``urllib.parse`` read, and every request to the path it read.
"""

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection

from runner.cli import main
from runner.errors import ConfigError
from runner.notify import resolve_urls
from runner.simulator import Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.test_notify import Receiver, make, model, outcome, play, target

pytestmark = pytest.mark.timeout(120)
SECRET = "SECRETPATH9f3c"
Address = tuple[str, int]

# PORT is the receiver's port. (URL, None when accepted, else words of the refusal)
TABLE: list[tuple[str, str | None]] = [
    ("http://127.0.0.1:PORT/hook/" + SECRET, None),
    ("http://localhost:PORT/hook/" + SECRET, None),
    ("HTTP://127.0.0.1:PORT/hook/" + SECRET, None),
    ("http://[::1]:PORT/hook/" + SECRET, None),
    ("http://127.0.0.1:PORT?@example.invalid/" + SECRET, None),
    ("https://127.0.0.1:PORT/hook/" + SECRET, None),  # TLS to a plain server: fails, right host
    ("http://127.0.0.1:PORT/hook/a%2F" + SECRET, None),
    ("http://example.invalid\\@127.0.0.1:PORT/" + SECRET, "backslash"),
    ("http://127.0.0.1:PORT\\@example.invalid/" + SECRET, "backslash"),
    ("http://127.0.0.1:PORT\\" + SECRET, "backslash"),
    ("http://example.invalid@127.0.0.1:PORT/" + SECRET, "user info"),
    ("http://user:pw@127.0.0.1:PORT/" + SECRET, "user info"),
    ("http://127.0.0.1:PORT@example.invalid/" + SECRET, "user info"),
    ("http://127.0.0.1:PORT#@example.invalid/" + SECRET, "fragment"),
    ("http://127.0.0.1:PORT/" + SECRET + "#frag", "fragment"),
    ("http://127.0.0.1:+PORT/" + SECRET, "https URL"),  # not even a number to urllib
    ("http://127.0.0.1:0PORT/" + SECRET, "port"),
    ("http://127.0.0.1:/" + SECRET, "port"),
    ("http://127.0.0.1:99999/" + SECRET, "https URL"),
    ("http://127.0.0.1:PORT:PORT/" + SECRET, "https URL"),
    ("http://[fe80::1%25lo]:PORT/" + SECRET, "IPv6"),
    ("http://[::1%lo]:PORT/" + SECRET, "IPv6"),
    ("http://127.0.0.1%2e:PORT/" + SECRET, "host"),
    ("http://127.0.0.1.:PORT/" + SECRET, "host"),
    ("http://127.1:PORT/" + SECRET, "https URL"),
    ("http://0x7f.0.0.1:PORT/" + SECRET, "https URL"),
    ("http://2130706433:PORT/" + SECRET, "https URL"),
    ("http://[::ffff:127.0.0.1]:PORT/" + SECRET, "https URL"),
    ("http://127.0.0.1:PORT/x/../" + SECRET, "segments"),
    ("http://127.0.0.1:PORT/./" + SECRET, "segments"),
    ("http://127.0.0.1:PORT/%zz" + SECRET, "re-encoded"),
    ("http://127.0.0.1:PORT/a%2f" + SECRET, "re-encoded"),
    ("http://127.0.0.1:PORT/<" + SECRET + ">", "re-encoded"),
    ("http://127.0.0.1:PORT/" + SECRET + '?q="x"', "re-encoded"),
    ("http://127.0.0.1:PORT/ü" + SECRET, "ASCII"),
    ("http://ｅxample.invalid:PORT/" + SECRET, "ASCII"),
    ("http:/127.0.0.1:PORT/" + SECRET, "https URL"),
    ("http:///127.0.0.1:PORT/" + SECRET, "https URL"),
    ("//127.0.0.1:PORT/" + SECRET, "https URL"),
    ("ftp://127.0.0.1:PORT/" + SECRET, "https URL"),
    ("http://example.invalid/" + SECRET, "https URL"),
]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Address]:
    """Every address urllib3 opened a connection to, in order (the real call is made)."""
    opened: list[Address] = []
    real = urllib3.util.connection.create_connection

    def spy(address: Address, *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    return opened


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("ok") as server:
        yield server


def with_port(url: str, port: int) -> str:
    return url.replace("PORT", str(port))


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 20 and sum(1 for _, says in TABLE if says) >= 20


@pytest.mark.parametrize(("url", "says"), TABLE, ids=[repr(u) for u, _ in TABLE])
def test_a_tricky_url_is_refused_or_sent_exactly_where_it_was_read_to_go(
    url: str, says: str | None, receiver: Receiver, connections: list[Address]
) -> None:
    url = with_port(url, receiver.server.server_address[1])
    hook = target(events=("deleted",))
    if says is not None:
        with pytest.raises(ConfigError) as caught:
            resolve_urls([hook], {"HOOK_URL": url})
        (line,) = str(caught.value).splitlines()
        assert line.startswith("notify hook: HOOK_URL ") and line.endswith("(value not shown)")
        assert says in line
        assert SECRET not in line and "example.invalid" not in line and "pw" not in line
        return
    checked = resolve_urls([hook], {"HOOK_URL": url})["hook"]
    read = urlsplit(url)
    notifier, recorder = make(checked, hook, timeout=1.0, attempts=1)
    play(notifier, outcome(model(1), "deleted"))
    (notified,) = recorder.notified
    assert connections, "nothing was tried"
    assert set(connections) == {(read.hostname, read.port)}
    for request in receiver.requests:
        assert request["path"] == (read.path or "/") + (f"?{read.query}" if read.query else "")
    if read.scheme == "http" and read.hostname != "::1":
        assert notified.ok and len(receiver.requests) == 1


@pytest.mark.timeout(60)
def test_run_refuses_the_bypass_before_any_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    receiver: Receiver,
    connections: list[Address],
) -> None:
    port = receiver.server.server_address[1]
    bypass = f"http://example.invalid\\@127.0.0.1:{port}/{SECRET}"
    for name, value in {"COHERE_API_KEY": COHERE_KEY, "BFL_API_KEY": BFL_KEY}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOOK_URL", bypass)
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            "version: 1\n"
            f'providers: {{cohere: {{base_url: "{sim.url}"}}}}\n'
            "jobs:\n  - {name: j, targets: [{provider: cohere, older_than: 30d}]}\n"
            "notify:\n  - {name: team, url_env: HOOK_URL, events: [deleted]}\n"
        )
        code = main(["run", str(job), "--yes", "--now", "2026-06-01T12:00:00Z"])
        out, err = capsys.readouterr()
        assert sim.requests == []
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert "notify team: HOOK_URL holds a backslash" in line and SECRET not in line
    assert connections == [] and receiver.requests == []
