"""``ftjanitor simulate``'s options, fault syntax, a taken port and its startup line."""

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.commands.simulate import EPILOG, add_arguments, parse_fault, run
from runner.errors import ConfigError
from runner.simulator import REGISTRY, Fault

ROOT = Path(__file__).resolve().parent.parent
# The command as the CLI will run it, through add_arguments, in a process of its own.
DRIVER = (
    "import argparse, sys\n"
    "from runner.commands import simulate\n"
    "parser = argparse.ArgumentParser(prog='ftjanitor simulate')\n"
    "simulate.add_arguments(parser)\n"
    "sys.exit(simulate.run(parser.parse_args(sys.argv[1:])))\n"
)


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="ftjanitor simulate", exit_on_error=False)
    add_arguments(made)
    return made


def test_fault_syntax() -> None:
    assert parse_fault("status:DELETE:/openai/v1/models/ft:a:b,status=503,times=2") == Fault(
        "status", method="DELETE", path="/openai/v1/models/ft:a:b", status=503, times=2
    )
    assert parse_fault("delay:get,seconds=0.5,probability=0.1") == Fault(
        "delay", method="GET", seconds=0.5, probability=0.1
    )
    assert parse_fault("status::/v1/models,after=3,retry_after=2,api=mistral") == Fault(
        "status", path="/v1/models", after=3, retry_after=2.0, api="mistral"
    )
    assert parse_fault("repeat_token") == Fault("repeat_token")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown fault kind 'explode'"),
        ("status:PATCH", "method 'PATCH' is not GET, POST or DELETE"),
        ("status,times", "'times' is not NAME=VALUE"),
        ("status,colour=red", "'colour=red' is not NAME=VALUE"),
        ("status,status=abc", "status='abc' is not a number"),
        ("status,api=vertex", "unknown provider type 'vertex'"),
    ],
)
def test_bad_faults_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentError) as caught:
        parser().parse_args(["--fault", spec])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_pairs_name_a_served_type() -> None:
    args = parser().parse_args(["--key", "openai=sk-1", "--count", "fireworks=3"])
    assert (args.key, args.count) == ([("openai", "sk-1")], [("fireworks", 3)])
    with pytest.raises(argparse.ArgumentError, match="'vertex=k' is not TYPE=KEY"):
        parser().parse_args(["--key", "vertex=k"])
    with pytest.raises(argparse.ArgumentError, match="'openai=x': 'x' is not a valid N"):
        parser().parse_args(["--count", "openai=x"])


def test_help_shows_every_default_and_the_admin_routes() -> None:
    made = parser()
    for action in made._actions:
        if action.dest != "help":
            assert action.help and "default" in action.help, action.dest
    text = made.format_help()
    for route in ("/_sim/requests", "/_sim/state", "/_sim/faults", "/_sim/latency"):
        assert route in text
    assert "(default: 8765)" in text and "KIND[:METHOD[:PATH]]" in text


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_in_use_is_one_clear_line(taken_port: int) -> None:
    args = parser().parse_args(["--port", str(taken_port), "--models", "1"])
    with pytest.raises(ConfigError) as caught:
        run(args)
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{taken_port}: address already in use"


def test_a_wrong_variant_is_one_clear_line() -> None:
    args = parser().parse_args(["--port", "0", "--variant", "mistral=xml"])
    with pytest.raises(ConfigError, match="mistral has no error variant 'xml'"):
        run(args)


def test_startup_line_names_the_url_counts_and_base_urls() -> None:
    command = [sys.executable, "-c", DRIVER, "--port", "0", "--seed", "scripts/demo-seed.yaml"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    found = re.fullmatch(
        r"simulator listening on (http://127\.0\.0\.1:\d+) (\{.*\}); base URLs: (.*) "
        r"\(cohere and bfl also at the root\)\n",
        line,
    )
    assert found, line
    url, counts, urls = found.groups()
    # A type with nothing in the demo seed holds 0: not this seed's business.
    assert {kind: n for kind, n in json.loads(counts).items() if n} == {
        "bedrock": 4,  # two custom models, two Provisioned Throughputs
        "bfl": 4,
        "cohere": 12,
        "fireworks": 5,  # a deployment beside the models
        "mistral": 5,
        "openai": 10,
        "together": 5,  # a dedicated endpoint beside the jobs
    }
    assert f"openai={url}/openai" in urls.split() and f"cohere={url}/cohere" in urls.split()
    assert (proc.returncode, rest) == (0, "simulator stopped\n")


def test_the_help_tells_the_seed_keys_of_every_kind_a_wire_seeds() -> None:
    # Written by each wire (Wire.seed_keys), so a new provider documents itself.
    for wire in REGISTRY.values():
        assert set(wire.kinds) <= set(wire.seed_keys), wire.kind
        for kind in wire.seed_keys:
            assert re.search(rf"^    {wire.kind} {kind} ", EPILOG, re.M), (wire.kind, kind)
