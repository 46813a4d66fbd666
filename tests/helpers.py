"""One helper per idea the tests share: the CLI in process and as a child, a daemon's bound
port, a port nothing answers on, and job files (the demo job and any other)."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runner.cli import main
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import ModelRecord
from runner.providers.cohere import MODEL as COHERE
from runner.ref import ResourceRef
from runner.simulator import Simulator
from runner.usage import REGISTRY as USAGE
from runner.usage import Seen, UsageSource, UsageUnknown
from tests.conftest import BFL_KEY, COHERE_KEY
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"COHERE_API_KEY": COHERE_KEY, "BFL_API_KEY": BFL_KEY}
NOW_ARG = "2026-06-01T12:00:00Z"  # conftest.NOW, the seed's clock, as the CLI takes it
TEST_PACE = 600_000  # requests_per_minute that never makes a test wait

# -- the command line ------------------------------------------------------------------------


def run_cli(*args: str) -> int:
    """``ftjanitor ARGS`` in process: its exit code."""
    return main(list(args))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``ftjanitor ARGS`` in process: (exit code, stdout, stderr) of this call alone."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def ftjanitor(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m runner ARGS`` as a child process, run to its end; KEYS in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env={**os.environ, **KEYS, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start_ftjanitor(
    args: list[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m runner ARGS`` started in the background, its stderr into ``log``."""
    with open(log, "wb") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args],
            env={**os.environ, **KEYS, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
        )


def log_events(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a ``--log-format json`` log; anything else is left for the message."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a traceback would show up in the assertion message instead
    return out


def listening_port(log: Path, daemon: subprocess.Popen[bytes], seconds: float = 30) -> int:
    """The port a ``schedule --listen 127.0.0.1:0`` daemon bound, read from its
    ``daemon.listening`` line: the daemon holds it from the bind on, so no other process
    can take it in between (as with a port probed free, released, then handed on)."""

    def said() -> str | None:
        assert daemon.poll() is None, f"the daemon exited: {log.read_text(errors='replace')}"
        found = [e for e in log_events(log) if e.get("event") == "daemon.listening"]
        return str(found[0]["address"]) if found else None

    address = wait_for(said, seconds, "the daemon's daemon.listening line", every=0.02)
    host, _, port = address.rpartition(":")
    assert host == "127.0.0.1" and port.isdigit() and int(port) > 0, address
    return int(port)


@contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections for as long as the block lasts: bound
    (so no one else can take it) but never listening, so a connect gets a reset."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# -- usage sources ---------------------------------------------------------------------------


class RefusingUsage(UsageSource):
    """A usage source whose provider refuses: what every real source's failure looks like."""

    name: ClassVar[str] = "test-refusing"
    reads: ClassVar[str] = "nothing: it refuses"
    calls: ClassVar[int] = 0

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, ModelRecord]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        type(self).calls += 1
        raise UsageUnknown("refused (403): an admin key is needed")


def read_usage_from(monkeypatch: pytest.MonkeyPatch, source: UsageSource) -> None:
    """From here to the test's end, Cohere's models read their usage from ``source``."""
    monkeypatch.setitem(USAGE, source.name, source)
    kinds = PROVIDERS["cohere"].kinds
    monkeypatch.setitem(kinds, "model", dataclasses.replace(COHERE, usage=source.name))  # type: ignore[index]


def refuse_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here to the test's end, Cohere's models read their usage from a source that
    refuses (a test may plan first and make the source fail before it applies)."""
    read_usage_from(monkeypatch, RefusingUsage())
    RefusingUsage.calls = 0


def used_at(sim: Simulator, model_id: str, at: datetime) -> None:
    """The simulated Cohere model was last used ``at`` (its listing's ``last_used``)."""
    with sim.lock:
        sim.accounts.cohere[model_id]["last_used"] = at.isoformat().replace("+00:00", "Z")


# -- job files -------------------------------------------------------------------------------


def flow(fields: Mapping[str, object]) -> str:
    """A YAML flow map: strings quoted, numbers and words as they are."""
    parts = [
        f"{key}: {json.dumps(value) if isinstance(value, str) else value}"
        for key, value in fields.items()
    ]
    return "{" + ", ".join(parts) + "}"


def job_yaml(providers: Mapping[str, Mapping[str, object]], jobs: str, top: str = "") -> str:
    """A job file: ``providers`` (connection name -> fields), then ``top`` (top-level lines
    such as ``state:`` or ``notify:``), then the ``jobs:`` list given as YAML text."""
    lines = ["version: 1", "providers:"]
    lines += [f"  {name}: {flow(fields)}" for name, fields in providers.items()]
    return "\n".join(lines) + "\n" + top + "jobs:\n" + jobs


def one_job(name: str, targets: list[str], **fields: object) -> str:
    """The ``jobs:`` list of one job: its fields in order, then its targets (flow maps)."""
    lines = [f"  - name: {name}"] + [f"    {key}: {value}" for key, value in fields.items()]
    return "\n".join([*lines, "    targets:", *(f"      - {t}" for t in targets)]) + "\n"


def write_job(folder: Path, text: str, name: str = "job.yaml") -> str:
    """Writes a job file into ``folder``; its path."""
    path = folder / name
    path.write_text(text)
    return str(path)


# The demo job on scripts/demo-seed.yaml: failed Cohere models, exp-* older than 30 days but
# the two newest and a protected one, and BFL IDs by name.
DEMO_EXP = (
    '{provider: cohere, name: "exp-*", older_than: 30d, keep_latest: 2, protect: [sim-cohere-0001]}'
)
DEMO_BFL_IDS = ("scratch-lora-1", "scratch-lora-2", "never-existed")
# What the demo job deletes at NOW_ARG (never-existed is already absent).
DEMO_PLANNED = {
    ("cohere", "sim-cohere-0002"),
    ("cohere", "sim-cohere-0003"),
    ("cohere", "sim-cohere-0004"),
    ("cohere", "sim-cohere-0008"),
    ("bfl", "scratch-lora-1"),
    ("bfl", "scratch-lora-2"),
}


def demo_job(
    url: str,
    *,
    name: str = "cleanup",
    top: str = "",
    bfl_ids: tuple[str, ...] = DEMO_BFL_IDS,
    connection: Mapping[str, object] | None = None,
    **fields: object,
) -> str:
    """The demo job against a simulator at ``url``; ``connection`` replaces the fields both
    connections get beside base_url (a fast pace unless told), ``fields`` go on the job."""
    targets = [
        "{provider: cohere, status: [STATUS_FAILED]}",
        DEMO_EXP,
        f"{{provider: bfl, ids: [{', '.join(bfl_ids)}]}}",
    ]
    connections = demo_connections(url, connection)
    return job_yaml(connections, one_job(name, targets, **fields), top)


def demo_connections(
    url: str, connection: Mapping[str, object] | None = None
) -> dict[str, dict[str, object]]:
    """cohere and bfl at a simulator: ``connection`` replaces the fields both get beside
    base_url (a fast pace unless told); cohere sends 4 requests at a time unless told."""
    extra = {"requests_per_minute": TEST_PACE} if connection is None else connection
    bfl = {k: v for k, v in extra.items() if k != "concurrency"}
    return {"cohere": {"base_url": url, "concurrency": 4, **extra}, "bfl": {"base_url": url, **bfl}}


def simulator_job(
    folder: Path,
    sim: Simulator,
    kind: str,
    *targets: str,
    connection: Mapping[str, object] | None = None,
    **fields: object,
) -> str:
    """A file with one job, ``cleanup``, and one connection of type ``kind`` at the
    simulator's mount for it (``connection``: more fields, such as account_id)."""
    url = {"base_url": sim.base_url(kind), **(connection or {}), "requests_per_minute": TEST_PACE}
    return write_job(folder, job_yaml({kind: url}, one_job("cleanup", list(targets), **fields)))


# -- what a plan decides ---------------------------------------------------------------------


def plan_decisions(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, Any]]:
    """ID -> the decision ``plan ARGS --json --now NOW_ARG`` reports for the file's one job."""
    code, out, err = cli(capsys, "plan", *args, "--json", "--now", NOW_ARG)
    assert code == 0, err
    (entry,) = json.loads(out)["jobs"]
    return {d["id"]: d for d in entry["decisions"]}


def planned(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    """What ``plan ARGS`` would delete: ID -> reason."""
    found = plan_decisions(capsys, *args).items()
    return {i: d["reason"] for i, d in found if d["decision"] == "delete"}


def run_now(*args: str) -> int:
    """``run ARGS --yes --now NOW_ARG`` in process: its exit code."""
    return run_cli("run", *args, "--yes", "--now", NOW_ARG)


def selector(
    folder: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], kind: str
) -> Callable[[str], set[str]]:
    """target -> the IDs a one-target job at ``kind`` would delete."""
    return lambda target: set(planned(capsys, simulator_job(folder, sim, kind, target)))
