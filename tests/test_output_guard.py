"""No output a command writes (plan --out, run --metrics-file, report --out) may replace a
file the job depends on: the job file, its audit log, its state database with SQLite's
side files, or the reviewed plan being applied; whether named as such, by another path, a
symbolic link or a hard link. Each is refused in one line, exit 2, before any request, and
the file is left as it was."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.simulator import Simulator
from tests.helpers import NOW_ARG, cli, demo_job, run_now, write_job

# (how the output names it) -> the path it gives, in the job file's folder
NAMINGS: dict[str, Callable[[Path, str], str]] = {
    "itself": lambda folder, name: str(folder / name),
    "another path": lambda folder, name: str(folder / "nowhere" / ".." / name),
    "a symbolic link": lambda folder, name: _link(folder, name, os.symlink),
    "a hard link": lambda folder, name: _link(folder, name, os.link),
}
GUARDED = {
    "job.yaml": "the job file",
    "audit/ftjanitor.jsonl": "the job file's audit log",
    "state/ftjanitor.sqlite3": "the job file's state database",
    "state/ftjanitor.sqlite3-wal": "the job file's state database",
}
COMMANDS: dict[str, Callable[[str, str], list[str]]] = {
    "plan --out": lambda job, out: ["plan", job, "--out", out, "--now", NOW_ARG],
    "run --metrics-file": lambda job, out: ["run", job, "--yes", "--metrics-file", out],
    "report --out": lambda job, out: ["report", "--job-file", job, "--out", out],
}


def _link(folder: Path, name: str, make: Callable[[str, str], None]) -> str:
    link = folder / f"link-{make.__name__}-{Path(name).name}"
    if not link.exists():
        make(str(folder / name), str(link))
    return str(link)


@pytest.fixture
def job(tmp_path: Path, sim: Simulator, keys: None) -> str:
    """A job that ran once: its audit log and state exist (the WAL file too)."""
    path = write_job(tmp_path, demo_job(sim.url))
    assert run_now(path) == 0
    (tmp_path / "state" / "ftjanitor.sqlite3-wal").touch()
    sim.requests.clear()
    return path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("naming", NAMINGS)
@pytest.mark.parametrize("guarded", GUARDED)
def test_an_output_never_replaces_a_file_the_job_depends_on(
    job: str,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    command: str,
    naming: str,
    guarded: str,
) -> None:
    folder = Path(job).parent
    before = (folder / guarded).read_bytes()
    out = NAMINGS[naming](folder, guarded)
    code, printed, err = cli(capsys, *COMMANDS[command](job, out))
    assert code == 2, printed + err
    option = command.split()[1]
    assert err.strip().splitlines() == [
        f"ftjanitor: {option} {out}: is {GUARDED[guarded]}; an output must not replace it;"
        " nothing was sent"
    ]
    assert (folder / guarded).read_bytes() == before
    assert sim.requests == []


def test_a_metrics_file_never_replaces_the_plan_being_applied(
    job: str, sim: Simulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert cli(capsys, "plan", job, "--out", str(plan), "--now", NOW_ARG)[0] == 0
    reviewed = plan.read_bytes()
    sim.requests.clear()
    code, _, err = cli(
        capsys, "run", job, "--plan", str(plan), "--yes", "--metrics-file", str(plan)
    )
    assert code == 2
    assert "is the reviewed plan being applied; an output must not replace it" in err
    assert plan.read_bytes() == reviewed and sim.requests == []
