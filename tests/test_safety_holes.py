"""Issue 10, item by item: the safety holes found by using ftjanitor from outside.

Each test drives the real command line (in process through ``runner.cli.main``, or as a
child process when a terminal, a pipe or ``/dev/null`` is the point) against the
simulator on 127.0.0.1, and checks the class of the hole, not only its first example.
"""

import errno
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from runner.audit import AuditLog, read_records
from runner.cli import build_parser, main
from runner.engine import RunOptions, execute
from runner.jobfile.validate import load_job_file
from runner.logs import Log
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from tests import helpers
from tests.conftest import BFL_KEY, COHERE_KEY, NOW
from tests.fakecohere import DROP, FakeCohere, listing, old_model
from tests.helpers import DEMO_PLANNED, KEYS, NOW_ARG, ROOT, cli, demo_job
from tests.waiting import drain, read_until

FAR_FUTURE = "3000-01-01T00:00:00Z"
PLANNED = DEMO_PLANNED


def write_job(tmp_path: Path, url: str, *, limit: int = 10, extra: str = "") -> str:
    return helpers.write_job(tmp_path, demo_job(url, top=extra, max_deletions=limit))


def child_env() -> dict[str, str]:
    return {**os.environ, **KEYS}


def audit_records(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


# -- 1. confirmation depends on standard input, and is asked on the terminal -----------

# Makes the pseudo-terminal on stdin the child's controlling terminal (so /dev/tty is it),
# then becomes `python -m runner ...`: stdout and stderr stay whatever the test made them.
CONTROLLING_TTY = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def run_piped_with_a_terminal(job: str, answer: bytes) -> tuple[int, str, str, str]:
    """`ftjanitor run JOB | tee`: stdin (and the controlling terminal) a pty, stdout and
    stderr pipes. Returns (exit code, what the terminal showed, stdout, stderr)."""
    import pty

    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", CONTROLLING_TTY, "-m", "runner", "run", job, "--now", NOW_ARG],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=child_env(),
        cwd=ROOT,
    )
    os.close(follower)
    try:
        terminal = read_until(leader, b"[y/N]")
        os.write(leader, answer)
        out, err = child.communicate(timeout=30)
        terminal += drain(leader)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        os.close(leader)
    return child.returncode, terminal.decode(errors="replace"), out.decode(), err.decode()


def test_without_a_terminal_on_stdin_run_refuses_and_sends_nothing(
    tmp_path: Path, sim: Simulator
) -> None:
    job = write_job(tmp_path, sim.url)
    done = subprocess.run(
        [sys.executable, "-m", "runner", "run", job, "--now", NOW_ARG],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "ftjanitor: run: standard input is not a terminal, so nobody can confirm the deletes:"
        " pass --yes (cron, CI), or run `ftjanitor plan` to look first; nothing was sent"
    ]
    assert sim.requests == [] and sim.deleted == []  # not even a listing
    assert not (tmp_path / "audit").exists()


def test_stdout_through_a_pipe_still_asks_on_the_terminal(tmp_path: Path, sim: Simulator) -> None:
    job = write_job(tmp_path, sim.url)
    code, terminal, out, err = run_piped_with_a_terminal(job, b"n\n")
    assert code == 0, err
    assert "Delete 6 fine-tunes? This cannot be undone. [y/N]" in terminal
    assert "6 to delete" in terminal  # the plan is shown where the question is
    assert "[y/N]" not in out and "[y/N]" not in err  # not into the pipe
    assert out == "cancelled: nothing deleted\n"
    assert sim.mutations() == []

    code, terminal, out, err = run_piped_with_a_terminal(job, b"y\n")
    assert code == 0, err
    assert "[y/N]" in terminal and "[y/N]" not in out
    assert "job cleanup: deleted 6, already absent 1" in out
    assert set(sim.deleted) == PLANNED and len(sim.deleted) == len(PLANNED)


# -- 2. run refuses a --now in the future; plan may look anywhere --------------------------


def test_run_refuses_a_future_now_and_plan_may_look_there(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url)
    code, out, err = cli(capsys, "run", job, "--yes", "--now", FAR_FUTURE)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "ftjanitor: run: --now 3000-01-01T00:00:00Z is in the future: a run ages every model"
        " by the clock, so it refuses (plan --now may look anywhere in time)"
    ]
    assert sim.requests == []
    # --dry-run is plan: allowed, and shows what the far future would select (one more
    # model than today's plan); still nothing mutating is sent.
    for command in (["plan", job], ["run", job, "--dry-run"]):
        code, out, err = cli(capsys, *command, "--now", FAR_FUTURE, "--json")
        assert code == 0, err
        decisions = {d["id"]: d["decision"] for d in json.loads(out)["jobs"][0]["decisions"]}
        assert decisions["sim-cohere-0005"] == "delete"
        assert sum(1 for d in decisions.values() if d == "delete") == len(PLANNED) + 1
    assert sim.mutations() == [] and sim.deleted == []
    # A clock a few seconds fast is not a typo: within the slack, run goes ahead.
    soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = cli(capsys, "run", job, "--yes", "--now", soon)
    assert code == 0, err


# -- 3. a dry run never changes what a later run decides ------------------------------------


def test_plan_with_a_past_or_future_now_does_not_age_new_finetunes_for_a_later_run(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = Accounts()
    accounts.add_bfl("brand-new-lora")  # BFL reports no creation time: first sightings age it
    with Simulator(accounts, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{bfl: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: sweep, targets: [{provider: bfl, older_than: 30d}]}\n"
        )
        before = datetime.now(UTC)
        for now in ("2000-01-01T00:00:00Z", "2020-06-01T00:00:00Z", FAR_FUTURE):
            code, out, err = cli(capsys, "plan", str(job), "--now", now, "--json")
            assert code == 0, err
        # The sighting the dry runs wrote is the wall clock, whatever --now said...
        db = sqlite3.connect(tmp_path / "state" / "ftjanitor.sqlite3")
        (seen,) = db.execute("SELECT first_seen FROM sightings").fetchone()
        db.close()
        assert datetime.fromisoformat(seen.replace("Z", "+00:00")) >= before
        # ...so the real run sees a finetune first seen seconds ago: too young for 30d.
        code, out, err = cli(capsys, "run", str(job), "--yes", "--json")
        assert code == 0, err
        (decision,) = json.loads(out)["jobs"][0]["decisions"]
        assert (decision["decision"], decision["age_basis"]) == ("keep", "first seen")
        assert decision["age_seconds"] < 600
        assert sim.deleted == [] and sim.mutations() == []


# -- 4. keys are checked before use; nothing built from an exception carries one ----------

BAD_CHARACTERS = {
    "newline": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "space": " ",
    "NUL": "\x00",
    "escape": "\x1b",
    "DEL": "\x7f",
    "line separator": "\u2028",
    "no-break space": "\u00a0",  # a copy-paste artefact, refused like any whitespace
}
POSITIONS = {
    "before": lambda key, c: c + key,
    "inside": lambda key, c: key[:8] + c + key[8:],
    "after": lambda key, c: key + c,
}


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())


def assert_nowhere(secret: str, folder: Path, *texts: str) -> None:
    for text in texts:
        assert secret not in text
    for path in files_under(folder):
        assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("character", list(BAD_CHARACTERS))
def test_a_malformed_key_is_refused_before_any_request_and_never_shown(
    character: str,
    position: str,
    tmp_path: Path,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = POSITIONS[position](COHERE_KEY, BAD_CHARACTERS[character])
    job = write_job(tmp_path, sim.url)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)
    expected = (
        "ftjanitor: malformed API key: COHERE_API_KEY (for cohere) holds whitespace or control"
        " characters (value not shown); nothing was sent"
    )
    if character == "NUL":
        # No environment can hold a NUL (the OS refuses it); the engine's mapping can.
        with pytest.raises(ValueError):
            monkeypatch.setenv("COHERE_API_KEY", value)
        from runner.errors import ConfigError

        options = RunOptions(dry_run=False, environ={**KEYS, "COHERE_API_KEY": value})
        with pytest.raises(ConfigError) as caught:
            execute(load_job_file(job), options)
        assert f"ftjanitor: {caught.value}" == expected
        outputs = [str(caught.value)]
    else:
        monkeypatch.setenv("COHERE_API_KEY", value)
        outputs = []
        for command in (["run", job, "--yes"], ["plan", job], ["inventory", job]):
            code, out, err = cli(capsys, *command)
            assert code == 2 and out == ""
            assert err.splitlines() == [expected]
            outputs += [out, err]
    assert sim.requests == []
    assert_nowhere(COHERE_KEY, tmp_path, *outputs)
    assert_nowhere(value, tmp_path, *outputs)


def echoing(mode: str) -> Callable[[str, str, str], tuple[int, Any]]:
    """The worst a provider can do: echo the Authorization header it was sent into every
    answer that can become an error, a message or a name."""

    dropped: list[str] = []

    def answer(method: str, path: str, echo: str) -> tuple[int, Any]:
        if method == "GET" and "/finetuned-models/" in path:
            return 200, {"finetuned_model": old_model()}  # a lookup after a lost delete
        if method == "GET":
            return {
                "listing 401 (JSON)": (401, {"message": f"invalid api token {echo}"}),
                "listing 403 (the bare key)": (403, {"message": f"{echo.split()[-1]} is revoked"}),
                "listing 500 (text)": (500, f"upstream said no to {echo}".encode()),
                "listing 400 (nested JSON)": (400, {"error": {"message": f"bad: {echo}"}}),
                "name from the provider": listing(old_model(name=f"exp-{echo}")),
            }.get(mode, listing(old_model()))
        if mode == "delete dropped (transport error)" and not dropped:
            dropped.append(path)  # once: settled by looking, then deleted on the retry
            return 0, DROP
        return {
            "delete 400 (JSON)": (400, {"message": f"cannot delete as {echo}"}),
            "delete 422 (list of details)": (422, {"detail": [{"msg": f"{echo} lacks scope"}]}),
        }.get(mode, (200, {}))

    return answer


ECHO_MODES = [
    "listing 401 (JSON)",
    "listing 403 (the bare key)",
    "listing 500 (text)",
    "listing 400 (nested JSON)",
    "name from the provider",
    "delete 400 (JSON)",
    "delete 422 (list of details)",
    "delete dropped (transport error)",
]


@pytest.mark.parametrize("mode", ECHO_MODES)
def test_a_key_echoed_by_the_provider_is_redacted_everywhere(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "co-ECHOED-9f8e7d6c5b4a"
    monkeypatch.setenv("COHERE_API_KEY", secret)
    with FakeCohere(echoing(mode)) as server:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{server.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: sweep, targets: [{provider: cohere, name: 'exp-*', older_than: 30d}]}\n"
        )
        outputs = []
        for command in (
            ["plan", str(job)],
            ["plan", str(job), "--json"],
            ["plan", str(job), "--format", "markdown"],
            ["run", str(job), "--yes"],
            ["run", str(job), "--yes", "--json"],
            ["inventory", str(job)],
            ["--debug", "run", str(job), "--yes"],
            ["audit", "show", "--job-file", str(job)],
            ["audit", "show", "--job-file", str(job), "--json"],
        ):
            _, out, err = cli(capsys, *command)
            assert "internal error" not in err, err
            outputs += [out, err]
    if "dropped" not in mode:
        assert "[REDACTED]" in "\n".join(outputs)  # the echo came back, and was caught
    assert_nowhere(secret, tmp_path, *outputs)
    if mode.startswith("delete"):
        assert server.deletes() > 0  # the delete layer was reached


# -- 6. a truncated audit tail is noticed: the head is anchored in the state ---------------


def test_audit_tail_truncation_is_refused_reported_and_recoverable(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url)
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    code, _, err = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert code == 0, err
    whole = log.read_bytes()
    lines = whole.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-3]))  # the last three records, cut at a line boundary
    # The chain alone still looks intact: only the anchor can tell.
    code, out, _ = cli(capsys, "audit", "verify", str(log))
    assert code == 0 and "intact" in out
    requests = len(sim.requests)
    for command in (["plan", job], ["run", job, "--yes"]):
        code, out, err = cli(capsys, *command, "--now", NOW_ARG)
        assert code == 2 and out == ""
        (line,) = err.splitlines()
        assert f"{log}: the audit log ends at seq {len(lines) - 3}" in line
        assert f"the state remembers seq {len(lines)}" in line
        assert "ftjanitor audit verify --job-file JOBFILE --reanchor" in line  # how to recover
        assert line.endswith("nothing was sent")
    assert len(sim.requests) == requests  # refused before anything was sent
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", job)
    assert code == 1 and out.startswith(f"{log}: TRUNCATED or replaced:")
    # Recovery is deliberate, recorded in the chain, and the log is usable again.
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", job, "--reanchor")
    assert code == 0
    assert f"re-anchored at seq {len(lines) - 2} (was seq {len(lines)} hash" in out
    last = list(read_records(log))[-1]
    assert last["event"] == "audit.reanchored" and last["seq"] == len(lines) - 2
    assert last["previous_head"].startswith(f"seq {len(lines)} hash ")
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", job)
    assert code == 0 and "intact" in out
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 0, err


def test_audit_log_grown_past_its_anchor_is_fine_but_a_replaced_tail_is_not(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url)
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
    # Another writer (say, a second job file sharing this log) appended after our anchor.
    other = AuditLog(log)
    for i in range(3):
        other.append("run.skipped", None, {"job": f"other-{i}"})
    other.close()
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 0, err
    assert cli(capsys, "audit", "verify", "--job-file", job)[0] == 0
    # Cut the tail and write a new, well-chained one over it: as long, and still a lie.
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-4]))
    forger = AuditLog(log)
    for i in range(8):
        forger.append("run.skipped", None, {"job": f"forged-{i}"})
    forger.close()
    assert cli(capsys, "audit", "verify", str(log))[0] == 0  # the chain holds...
    code, out, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 2 and "has a different record at that seq" in err  # ...the anchor does not
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", job)
    assert code == 1 and "TRUNCATED or replaced" in out


# -- 7. paths that must differ, and paths that cannot work, stop before any request --------


def test_audit_log_and_state_on_one_path_are_invalid(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url, extra="state: records/one.db\naudit_log: ./records/one.db\n")
    code, out, err = cli(capsys, "validate", job)
    assert code == 2
    assert "audit_log and state are the same file (./records/one.db): they must differ" in err
    assert "1 of 1 job file invalid (1 error)" in out
    for command in (["run", job, "--yes"], ["plan", job]):
        assert cli(capsys, *command)[0] == 2
    assert sim.requests == [] and not (tmp_path / "records").exists()


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == "", (code, out, err)
    (line,) = err.splitlines()
    assert "internal error" not in line and "Traceback" not in line
    return line


def test_an_audit_path_that_is_a_directory_is_one_line(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url, extra="audit_log: logs/audit.jsonl\n")
    (tmp_path / "logs" / "audit.jsonl").mkdir(parents=True)
    for command in (["run", job, "--yes"], ["plan", job]):
        line = one_line_error(capsys, *command)
        assert line == (
            f"ftjanitor: {tmp_path}/logs/audit.jsonl: cannot use as the audit log: Is a directory"
        )
    assert sim.requests == []


def test_a_state_whose_parent_is_a_file_is_one_line(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url, extra="state: blocker/state.sqlite3\n")
    (tmp_path / "blocker").write_text("a file, not a folder\n")
    for command in (["run", job, "--yes"], ["plan", job], ["inventory", job]):
        line = one_line_error(capsys, *command)
        assert line == (
            f"ftjanitor: {tmp_path}/blocker/state.sqlite3: cannot create it:"
            " a parent of it is a file, not a folder"
        )
    assert sim.requests == []
    assert (tmp_path / "blocker").read_text() == "a file, not a folder\n"


@pytest.mark.parametrize("content", ["garbage", "truncated database"])
def test_a_corrupt_state_is_one_line_and_never_rebuilt(
    content: str,
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = write_job(tmp_path, sim.url)
    state = tmp_path / "state" / "ftjanitor.sqlite3"
    if content == "garbage":
        state.parent.mkdir()
        state.write_bytes(b"this is not a database at all\n" * 200)
    else:  # a real state cut in half: its header survives, its pages do not
        assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
        sim.requests.clear()
        for extra in state.parent.glob("ftjanitor.sqlite3-*"):
            extra.unlink()  # no WAL to heal it from
        data = state.read_bytes()
        state.write_bytes(data[: len(data) // 2] + b"\xff" * 512)
    before = state.read_bytes()
    commands = [["run", job, "--yes"], ["plan", job], ["inventory", job]]
    if content != "garbage":  # there is an audit log to verify against this state
        commands.append(["audit", "verify", "--job-file", job])
    for command in commands:
        line = one_line_error(capsys, *command)
        assert line.startswith(f"ftjanitor: {state}: ")
    assert sim.requests == []
    assert state.read_bytes() == before  # refused, never rebuilt


# -- 8. plan is run --dry-run, exit code included ------------------------------------------


def test_plan_over_max_deletions_exits_1_names_the_limit_and_shows_blocked_rows(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Limits count per connection (4 on cohere, 2 on bfl): both are over 1.
    job = write_job(tmp_path, sim.url, limit=1)
    code, out, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 1, err
    assert (
        "LIMIT: job 'cleanup' would delete 4 models on cohere, over its max_deletions of 1;"
        " job 'cleanup' would delete 2 models on bfl, over its max_deletions of 1:"
        " nothing deleted (raise the limit or narrow the rules)"
    ) in out
    assert "0 to delete" in out and "6 blocked by the limit" in out
    rows = [
        line.split()
        for line in out.splitlines()
        if line.startswith("    sim-") or line.startswith("    scratch-")
    ]
    blocked = {row[0] for row in rows if "blocked" in row}
    assert blocked == {model_id for _, model_id in PLANNED}
    assert not any("delete" in row for row in rows)
    code, out, _ = cli(capsys, "plan", job, "--now", NOW_ARG, "--json")
    assert code == 1
    (report,) = json.loads(out)["jobs"]
    assert report["end"]["status"] == "aborted" and "max_deletions of 1" in report["limit"]
    assert {d["id"] for d in report["decisions"] if d["decision"] == "blocked"} == blocked
    # and run agrees, deleting nothing
    assert cli(capsys, "run", job, "--yes", "--now", NOW_ARG)[0] == 1
    assert sim.mutations() == []


# -- 9. provider strings are escaped wherever they are shown -------------------------------

FORGED = "ok\nsim-cohere-0099  prod-chat  STATUS_READY  1d  keep  protected"
HOSTILE_NAMES = {
    "h-newline": FORGED,
    "h-ansi": "exp-\x1b[31mred\x1b[0m-\x1b[2J",
    "h-bidi": "exp-\u202egnp.exe",
    "h-lsep": "exp-a\u2028b\u2029c\u0085d",
}


def hostile_accounts() -> Accounts:
    accounts = Accounts()
    for model_id, name in HOSTILE_NAMES.items():
        accounts.add_cohere(cohere_model(model_id, name, "STATUS_READY", NOW - timedelta(days=90)))
    accounts.add_cohere(
        cohere_model("plain", "exp-plain", "STATUS_READY", NOW - timedelta(days=90))
    )
    return accounts


RAW_CONTROLS = ("\x1b", "\u202e", "\u2028", "\u2029", "\x85", "\r")


def assert_escaped(text: str) -> None:
    for raw in RAW_CONTROLS:
        assert raw not in text, (raw, text)
    assert "\nsim-cohere-0099" not in text  # the forged row never starts a line
    for line in text.splitlines():
        assert not line.lstrip().startswith("sim-cohere-0099"), line


def test_provider_names_cannot_forge_rows_in_the_plan_or_inventory(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(hostile_accounts(), cohere_key=COHERE_KEY) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: j, targets: [{provider: cohere, older_than: 30d}]}\n"
        )
        code, out, err = cli(capsys, "plan", str(job), "--now", NOW_ARG)
        assert code == 0, err
        assert_escaped(out)
        # One table row per model: the header, five models, nothing more.
        table = [line for line in out.splitlines() if line.startswith("    ")]
        assert len(table) == 1 + len(HOSTILE_NAMES) + 1
        assert "ok\\nsim-cohere-0099" in out
        assert "exp-\\x1b[31mred\\x1b[0m-\\x1b[2J" in out
        assert "exp-\\u202egnp.exe" in out and "exp-a\\u2028b\\u2029c\\x85d" in out
        code, out, _ = cli(capsys, "plan", str(job), "--now", NOW_ARG, "--format", "markdown")
        assert code == 0
        assert_escaped(out)
        code, out, _ = cli(capsys, "inventory", str(job))
        assert code == 0
        assert_escaped(out)
        assert sum(1 for line in out.splitlines() if line.startswith("h-")) == len(HOSTILE_NAMES)


def test_provider_text_cannot_forge_lines_in_errors_audit_show_or_the_daemon_log(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "bad\u2028sim-cohere-0099 deleted\u202e\x1b[31m\nsim-cohere-0098"
    failing = {"GET": False}

    def answer(method: str, path: str, echo: str) -> tuple[int, Any]:
        if method == "DELETE" or failing["GET"]:
            return 400, {"message": evil}
        return listing(old_model("plain", "exp-plain"))

    with FakeCohere(answer) as server:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{server.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: j, schedule: every 1h, targets: [{provider: cohere, name: 'exp-*'}]}\n"
        )
        # A failed delete whose error is hostile: the outcome lines, then audit show.
        code, out, err = cli(capsys, "run", str(job), "--yes")
        assert code == 1 and server.deletes() == 1
        assert_escaped(out + err)
        assert "failed: cohere plain: bad\\u2028sim-cohere-0099 deleted\\u202e" in out
        code, out, _ = cli(capsys, "audit", "show", "--job-file", str(job))
        assert code == 0
        assert_escaped(out)
        assert "bad\\u2028sim-cohere-0099 deleted\\u202e" in out
        # A listing that fails with the same words: the error lines and the daemon's log.
        failing["GET"] = True
        code, out, err = cli(capsys, "plan", str(job))
        assert code == 1
        assert_escaped(out + err)
        assert "bad\\u2028sim-cohere-0099" in out + err
        from runner.scheduler import Daemon

        for hour, fmt in enumerate(("text", "json")):
            stream = StringIO()
            daemon = Daemon([str(job)], Log(fmt, stream), environ=KEYS)
            daemon.load()
            (item,) = daemon.scheduled()
            daemon._fire(item.key, datetime(2026, 1, 1, hour, tzinfo=UTC))  # a fire each
            text = stream.getvalue()
            assert_escaped(text)
            assert "sim-cohere-0099" in text  # the provider's words are there, escaped
            starts = ("{",) if fmt == "json" else ("20",)
            assert all(line.startswith(starts) for line in text.splitlines()), text


def test_hand_written_audit_records_cannot_forge_rows_in_audit_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append(
        "delete.outcome",
        "r1",
        {
            "job": "j\nx",
            "provider": "c\x1b[2J",
            "model_id": FORGED,
            "result": "failed",
            "error": "e\u2028\u202e",
        },
    )
    log.close()
    code, out, _ = cli(capsys, "audit", "show", str(path))
    assert code == 0
    assert_escaped(out)
    assert len(out.splitlines()) == 2  # the header and the one record


# -- 10. environment problems: one clear line naming the thing, exit 2 ---------------------


def test_simulate_on_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(capsys, "simulate", "--port", str(port), "--models", "1")
    assert line == f"ftjanitor: cannot listen on 127.0.0.1:{port}: address already in use"
    assert errno.EADDRINUSE  # the errno the message is chosen by


def test_a_broken_yaml_symlink_in_a_job_folder_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "good.yaml").write_text(
        "version: 1\njobs:\n  - {name: j, schedule: every 1h, targets: [{provider: cohere, status: [STATUS_FAILED]}]}\n"
    )
    (folder / "gone.yaml").symlink_to(folder / "deleted-long-ago.yaml")
    code, out, err = cli(capsys, "validate", str(folder))
    assert code == 2
    assert err.splitlines() == [
        f"{folder}/gone.yaml:1:1: (document): broken symlink (its target"
        f" '{folder}/deleted-long-ago.yaml' does not exist)"
    ]
    assert out == "1 of 2 job files invalid (1 error)\n"
    from runner.scheduler import Daemon

    stream = StringIO()
    daemon = Daemon([str(folder)], Log("json", stream))
    assert daemon.load() is False
    (invalid,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert invalid["event"] == "config.invalid" and "gone.yaml" in invalid["error"]
    assert "broken symlink" in invalid["error"] and invalid["action"] == "not scheduled"
    assert [s.job.name for s in daemon.scheduled()] == ["j"]


def test_two_job_files_with_one_job_name_under_one_daemon_are_said_out_loud(
    tmp_path: Path,
) -> None:
    from runner.scheduler import Daemon

    text = "version: 1\njobs:\n  - {name: sweep, schedule: every 1h, targets: [{provider: cohere, status: [STATUS_FAILED]}]}\n"
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    stream = StringIO()
    daemon = Daemon([str(tmp_path)], Log("json", stream))
    for _ in range(2):  # on every load, not once and then silence
        assert daemon.load() is False
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["config.invalid", "config.invalid"]
    assert lines[0]["error"] == (
        f"{tmp_path}/b.yaml: job 'sweep' is also defined in {tmp_path}/a.yaml with the same state"
    )
    assert lines[0]["action"] == "not scheduled from this file"
    assert [s.key for s in daemon.scheduled()] == [f"{tmp_path}/a.yaml::sweep"]


class FakeClock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_the_every_phase_does_not_move_after_a_catch_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import apscheduler.executors.base
    import apscheduler.schedulers.base
    from apscheduler.executors.debug import DebugExecutor

    from runner.scheduler import Daemon
    from runner.state.sqlite import SqliteState
    from tests.test_scheduler import ManualScheduler

    clock = FakeClock(datetime(2026, 3, 5, 13, 37, tzinfo=UTC))  # off the 6-hour phase

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return clock.at.astimezone(tz) if tz else clock.at.replace(tzinfo=None)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FakeDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", FakeDatetime)
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\njobs:\n  - {name: sweep, schedule: every 6h, targets: [{provider: cohere, status: [STATUS_FAILED]}]}\n"
    )
    state = SqliteState(tmp_path / "state" / "ftjanitor.sqlite3")
    state.run_started("r1", "sweep", "schedule", False, datetime(2026, 3, 4, 0, 0, 2, tzinfo=UTC))
    state.close()
    scheduler = ManualScheduler(timezone=UTC, executors={"default": DebugExecutor()})
    daemon = Daemon([str(path)], Log("json", StringIO(), clock), scheduler=scheduler, clock=clock)
    fired: list[tuple[datetime, datetime | None]] = []
    daemon._fire = lambda key, fire_time=None: fired.append((clock.at, fire_time))  # type: ignore[method-assign]
    daemon.load()
    scheduler.start()
    key = f"{path}::sweep"
    assert daemon.catch_up() == [key]
    scheduler._process_jobs()  # the catch-up runs now, for the missed 12:00
    assert fired == [(clock.at, datetime(2026, 3, 5, 12, 0, tzinfo=UTC))]
    phase = [scheduler.get_job(key).next_run_time]
    for _ in range(3):
        clock.at = phase[-1]
        scheduler._process_jobs()
        phase.append(scheduler.get_job(key).next_run_time)
    assert phase == [datetime(2026, 3, 5, h, 0, tzinfo=UTC) for h in (18,)] + [
        datetime(2026, 3, 6, h, 0, tzinfo=UTC) for h in (0, 6, 12)
    ]
    assert [at for at, _ in fired[1:]] == phase[:3]


# -- 11. help, wording and what a long wait says --------------------------------------------


def test_every_option_and_positional_of_every_command_has_help() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    listed = {a.dest: a.help for a in commands._choices_actions}
    missing = []
    for name, sub in [("ftjanitor", parser), *commands.choices.items()]:
        if name != "ftjanitor" and not listed.get(name):
            missing.append(f"{name} (in the command list)")
        for action in sub._actions:
            if action is commands or action.dest == "help":
                continue
            if not action.help or action.help == "==SUPPRESS==":
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert set(commands.choices) == {
        "validate", "inventory", "plan", "run", "schedule", "audit", "report", "simulate"
    }  # fmt: skip


def test_simulate_help_through_the_cli_shows_defaults_and_fault_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["simulate", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for default in ("(default: 8765)", "(default: 50)", "(default: 10)", "(default: 1000)"):
        assert default in text
    assert "--fault SPEC" in text and "KIND[:METHOD[:PATH]]" in text and "/_sim/faults" in text


def test_validate_counts_errors_in_good_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(
        "version: 1\njobs:\n  - {name: j, targets: [{provider: cohere, older_than: 3x}]}\n"
    )
    two = tmp_path / "two.yaml"
    two.write_text(
        "version: 1\njobs:\n  - {name: j, targets: [{provider: cohere, older_than: 3x, keep_latest: -1}]}\n"
    )
    assert cli(capsys, "validate", str(one))[1] == "1 of 1 job file invalid (1 error)\n"
    assert cli(capsys, "validate", str(two))[1] == "1 of 1 job file invalid (2 errors)\n"
    assert cli(capsys, "validate", str(one), str(two))[1] == "2 of 2 job files invalid (3 errors)\n"


def test_no_carriage_return_when_stderr_is_not_a_terminal(tmp_path: Path, sim: Simulator) -> None:
    job = write_job(tmp_path, sim.url)
    done = subprocess.run(
        [sys.executable, "-m", "runner", "run", job, "--yes", "--now", NOW_ARG],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=child_env(),
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stderr and b"\r" not in done.stdout
    assert b"deleting" not in done.stderr  # the progress line is for terminals only
    assert set(sim.deleted) == PLANNED


def test_a_long_retry_after_wait_says_what_it_waits_for(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # On Cohere's listing: connections are listed at once, so "the first GET" could be BFL's.
    sim.faults = [Fault("status", method="GET", status=429, retry_after=2, times=1, api="cohere")]
    job = write_job(tmp_path, sim.url)
    started = time.monotonic()
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    waited = time.monotonic() - started
    assert code == 0, err
    assert 1.9 <= waited < 10
    notices = [line for line in err.splitlines() if "waiting" in line]
    assert len(notices) == 1, err
    assert notices[0].startswith(f"ftjanitor: cohere ({sim.url}): ")
    assert notices[0].endswith("the provider asked to retry later (HTTP 429); waiting 2s")
