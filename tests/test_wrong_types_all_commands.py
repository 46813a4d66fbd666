"""Every command that reads a job file copes with a wrong-typed node: exit 2, one line each.

The files are ``wrong_type_documents``: valid job files with one node swapped for a
wrong-typed or extreme value. For each, ``validate`` decides; every other command that
loads a job file (plan, run --dry-run --yes, inventory, audit verify --job-file) must
then exit 2 on an invalid file with no traceback and no "internal error", and send no
request: the network is closed for the whole test.
"""

import socket
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.validate import load_job_file
from tests.test_validate_fuzz import wrong_type_documents

DOCUMENTS = wrong_type_documents(120, seed=20261123)
KEYS = {
    f"{kind}_API_KEY": f"test-key-{kind.lower()}-0123456789"
    for kind in ("COHERE", "BFL", "OPENAI", "MISTRAL", "TOGETHER", "FIREWORKS")
}
COMMANDS: list[list[str]] = [
    ["plan", "{path}"],
    ["run", "{path}", "--dry-run", "--yes"],
    ["inventory", "{path}"],
    ["audit", "verify", "--job-file", "{path}"],
    ["report", "--job-file", "{path}"],
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a command opened a connection for an invalid job file")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _is_valid(path: Path) -> bool:
    try:
        load_job_file(str(path))
    except JobFileError:
        return False
    return True


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_every_command_on_a_wrong_typed_file(
    index: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "job.yaml"
    path.write_text(DOCUMENTS[index])
    valid = _is_valid(path)

    code = main(["validate", str(path)])
    _out, err = capsys.readouterr()
    assert code == (0 if valid else 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    if valid:
        return  # a valid file would reach the providers: other tests plan the examples
    for diagnostic_line in err.strip().splitlines():
        assert diagnostic_line.startswith(f"{path}:"), diagnostic_line

    for command in COMMANDS:
        argv = [part.format(path=path) for part in command]
        code = main(argv)
        _out, err = capsys.readouterr()
        assert code == 2, (argv, err)
        assert "Traceback" not in err and "internal error" not in err, (argv, err)
        assert err.strip(), argv
        for line in err.strip().splitlines():
            assert line.startswith((f"{path}:", "ftjanitor:")), (argv, line)
