"""Every file ftjanitor reads goes through one bounded reader that refuses non-regular files.

A size from stat() says nothing about /dev/zero (size 0, endless) or a FIFO (opening it
blocks until a writer comes): each entry point is tried with each such file and must answer
with one line, exit 2, at once.
"""

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner import planfile
from runner.cli import main
from runner.commands.simulate import MAX_SEED_BYTES
from runner.files import NotReadable, read_bounded
from runner.jobfile.loader import MAX_BYTES as JOB_MAX_BYTES

JOB = """version: 1
providers:
  cohere: {base_url: "http://127.0.0.1:9"}
jobs:
  - name: cleanup
    targets:
      - {provider: cohere, status: [STATUS_FAILED]}
"""


def fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def unix_socket(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        yield str(path)


def folder(tmp_path: Path) -> str:
    (tmp_path / "folder").mkdir()
    return str(tmp_path / "folder")


def oversize(limit: int) -> Callable[[Path], str]:
    def make(tmp_path: Path) -> str:
        path = tmp_path / "big"
        with open(path, "wb") as handle:  # sparse: one byte over, no disk used
            handle.truncate(limit + 1)
        return str(path)

    return make


# kind -> (how to make it, the words our message uses)
KINDS: dict[str, tuple[Callable[[Path], str], str]] = {
    "dev-zero": (lambda _: "/dev/zero", "is a character device, not a"),
    "fifo": (fifo, "is a named pipe (FIFO), not a"),
    "directory": (folder, "is a directory, not a"),
}


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[str]:
    yield from unix_socket(tmp_path)


@pytest.mark.timeout(20)  # the old reader blocked forever opening a FIFO
@pytest.mark.parametrize("kind", [*KINDS, "socket"])
def test_reader_refuses_what_is_not_a_regular_file_without_blocking(
    tmp_path: Path, kind: str, sock: str
) -> None:
    make, words = KINDS.get(kind, (lambda _: sock, "is a socket, not a"))
    with pytest.raises(NotReadable) as caught:
        read_bounded(make(tmp_path), 1024, "thing")
    assert str(caught.value) == words + " thing"


def test_reader_reads_up_to_its_bound_and_not_a_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1024)
    assert read_bounded(path, 1024, "thing") == b"x" * 1024
    with pytest.raises(NotReadable, match=r"^file is over 1023 bytes$"):
        read_bounded(path, 1023, "thing")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(NotReadable, match=r"^broken symlink"):
        read_bounded(tmp_path / "dangling", 1024, "thing")


def test_a_file_growing_past_its_stat_size_is_still_bounded(tmp_path: Path) -> None:
    """The size stat() gave is only a shortcut: /proc files say 0 and hold more."""
    with pytest.raises(NotReadable, match=r"^file is over 10 bytes$"):
        read_bounded("/proc/self/maps", 10, "thing")


def _job(tmp_path: Path) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(JOB)
    return str(path)


# entry point -> (argv for a file at PATH, the noun in the message, its size bound)
ENTRY_POINTS: dict[str, tuple[Callable[[Path, str], list[str]], str, int]] = {
    "validate": (lambda _, f: ["validate", f], "job file", JOB_MAX_BYTES),
    "run": (lambda _, f: ["run", f, "--yes"], "job file", JOB_MAX_BYTES),
    "run --plan": (
        lambda tmp, f: ["run", _job(tmp), "--plan", f, "--yes"],
        "plan file",
        planfile.MAX_BYTES,
    ),
    "simulate --seed": (lambda _, f: ["simulate", "--seed", f], "seed file", MAX_SEED_BYTES),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (entry, kind)
        for entry in ENTRY_POINTS
        for kind in [*KINDS, "oversize"]
        if (entry, kind) != ("validate", "directory")  # validate checks a folder's files
    ],
)
def test_every_entry_point_refuses_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, kind: str
) -> None:
    argv, noun, limit = ENTRY_POINTS[entry]
    if kind == "oversize":
        make, words = oversize(limit), f"file is over {limit} bytes"
    else:
        make, prefix = KINDS[kind]
        words = f"{prefix} {noun}"
    target = make(tmp_path)
    assert main(argv(tmp_path, target)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and target in err, err
    assert "internal error" not in err
