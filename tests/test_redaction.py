"""Keys never leave the process: checked before use (runner.credentials), replaced in
every text built from provider answers or exceptions (runner.redaction and the HTTP
core), never in a repr. End-to-end cases with malformed keys and a provider that echoes
the key are in test_safety_holes (item 4)."""

from pathlib import Path

import pytest

from runner.cli import main
from runner.credentials import resolve_keys
from runner.errors import ConfigError, ProviderError
from runner.jobfile.model import Connection
from runner.providers.cohere import CohereLister
from runner.providers.http import HttpClient
from runner.ratelimit import RateLimiter
from runner.redaction import REDACTED, redact, secret_list
from runner.simulator import Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, FAST, provider
from tests.fakecohere import FakeCohere
from tests.helpers import NOW_ARG
from tests.test_engine import write_job

# -- runner.redaction -----------------------------------------------------------------------


def test_secret_list_is_longest_first_and_ignores_short_values() -> None:
    assert secret_list(["abcdef", "abcdefghij", "ok", "abcdef", ""]) == ["abcdefghij", "abcdef"]


def test_redact_reaches_into_dicts_and_lists_and_leaves_other_values() -> None:
    secrets = secret_list(["sk-abcdef-123", "sk-abcdef"])
    value = {
        "error": "got sk-abcdef-123 and sk-abcdef",
        "nested": [{"token": "sk-abcdef-123"}, 5, None, True],
        "count": 3,
    }
    assert redact(value, secrets) == {
        "error": f"got {REDACTED} and {REDACTED}",
        "nested": [{"token": REDACTED}, 5, None, True],
        "count": 3,
    }


# -- runner.credentials ---------------------------------------------------------------------


def conn(name: str, env: str) -> Connection:
    return Connection(name, "cohere", env, "https://api.cohere.com", 1, 500)


def test_every_missing_or_malformed_key_is_named_at_once_and_no_value_is() -> None:
    connections = [conn("a", "A_KEY"), conn("b", "B_KEY"), conn("c", "C_KEY"), conn("d", "D_KEY")]
    environ = {"A_KEY": "good-key-123", "C_KEY": "bad key 456", "D_KEY": "bad\u00a0789"}
    with pytest.raises(ConfigError) as caught:
        resolve_keys(connections, environ)
    message = str(caught.value)
    assert message == (
        "missing API key: set B_KEY (for b) in the environment;"
        " malformed API key: C_KEY (for c), D_KEY (for d) holds whitespace or control"
        " characters (value not shown); nothing was sent"
    )
    assert "456" not in message and "789" not in message and "good-key" not in message
    assert resolve_keys(connections[:1], environ) == {"a": "good-key-123"}


# -- the HTTP core --------------------------------------------------------------------------


def test_a_key_echoed_in_a_body_is_redacted_before_anything_reads_it() -> None:
    secret = "co-ECHO-5a4b3c2d1e"

    def answer(method: str, path: str, echo: str) -> tuple[int, object]:
        return 401, {"message": f"bad token {echo}", "detail": {"token": echo.split()[-1]}}

    with FakeCohere(answer) as server:
        client = HttpClient(
            server.url,
            {"Authorization": f"Bearer {secret}"},
            limiter=RateLimiter(600_000),
            concurrency=1,
            policy=FAST,
        )
        response = client.request("GET", "/v1/finetuning/finetuned-models")
        with pytest.raises(ProviderError) as caught:
            list(CohereLister(client).list_models())
        client.close()
    assert secret not in response.text and secret not in str(response.body)
    assert response.body == {
        "message": f"bad token {REDACTED}",
        "detail": {"token": REDACTED},
    }
    assert str(caught.value).endswith(f"HTTP 401: bad token {REDACTED}")


def test_bad_key_is_an_auth_error_without_the_key(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        list(provider(sim, "cohere", key="wrong-key-0123456789").list_models())
    assert caught.value.auth
    assert "HTTP 401: invalid api token" in str(caught.value)
    assert "wrong-key-0123456789" not in str(caught.value)


def test_keys_never_in_reprs(sim: Simulator) -> None:
    cohere = provider(sim, "cohere")
    assert COHERE_KEY not in repr(cohere.client)  # type: ignore[attr-defined]
    assert BFL_KEY not in repr(provider(sim, "bfl").client)  # type: ignore[attr-defined]


# -- through the commands -------------------------------------------------------------------


def test_no_key_value_reaches_audit_stdout_or_stderr(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = write_job(tmp_path, sim)
    main(["plan", job, "--now", NOW_ARG])
    main(["run", job, "--yes", "--json", "--now", NOW_ARG])
    main(["inventory", job])
    # rejected: the error must not echo it
    monkeypatch.setenv("COHERE_API_KEY", "wrong-" + COHERE_KEY)
    main(["run", job, "--yes", "--now", NOW_ARG])
    out, err = capsys.readouterr()
    audit_text = (tmp_path / "audit" / "ftjanitor.jsonl").read_text()
    for secret in (COHERE_KEY, BFL_KEY):
        assert secret not in out and secret not in err and secret not in audit_text
    assert "HTTP 401: invalid api token" in out
