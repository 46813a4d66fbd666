"""``python -m runner`` leaves without tearing the interpreter down (runner.quickexit):
what it printed is all there, its exit code is the command's, a reader that went away
ends it quietly with 1, and output that cannot be written is one line and 1."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, ftjanitor

JOBS = ROOT / "jobs"


def validate_to(stdout: Any, path: str) -> subprocess.CompletedProcess[str]:
    """``python -m runner validate PATH`` with its stdout on ``stdout`` (a file, a pipe)."""
    return subprocess.run(
        [sys.executable, "-m", "runner", "validate", path],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_output_redirected_to_a_file_is_complete_and_the_code_is_kept(tmp_path: Path) -> None:
    valid = ftjanitor("validate", str(JOBS))
    files = sorted(JOBS.glob("*.yaml"))
    assert valid.returncode == 0 and valid.stdout == f"{len(files)} job files valid\n"
    bad = tmp_path / "bad.yaml"
    text = (JOBS / "nightly.yaml").read_text()
    bad.write_text(f"{text}bogus: 1\n")
    with open(tmp_path / "out.txt", "w") as out:
        done = validate_to(out, str(bad))
    assert done.returncode == 2
    assert (tmp_path / "out.txt").read_text() == "1 of 1 job file invalid (1 error)\n"
    assert done.stderr.startswith(f"{bad}:{text.count(chr(10)) + 1}:1: ")


def test_help_ends_as_argparse_ends_it() -> None:
    done = ftjanitor("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: ftjanitor")


def test_a_reader_that_went_away_ends_it_quietly_with_1() -> None:
    read, write = os.pipe()
    os.close(read)  # `| head` that has already left
    try:
        done = validate_to(write, str(JOBS))
    finally:
        os.close(write)
    assert done.returncode == 1 and done.stderr == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_one_line_and_1() -> None:
    with open("/dev/full", "w") as full:  # every write: no space left on device
        done = validate_to(full, str(JOBS))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("ftjanitor: ") and "internal error" not in line
