"""Hostile job files never crash validation: a JobFile or one-line diagnostics, nothing else.

The main property: take a VALID job file (every example in jobs/ and a rich one touching
every field and provider type), swap ONE node anywhere in it (a mapping value or a list
item, or the whole document) for a wrong-typed or extreme value, and load it.
``load_job_file`` must return a JobFile or raise JobFileError whose every diagnostic is
one ``file:line:col: path: message`` line -- never any other exception, and never the
last-resort "internal error" diagnostic. ``wrong_type_documents`` produces the same kind
of files deterministically, for tests that run every command on them.
"""

import argparse
import copy
import random
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.commands import validate as validate_command
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.model import JobFile
from runner.jobfile.validate import load_job_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "jobs").glob("*.yaml"))
T = TypeVar("T")

# A valid file that uses every field of the job-file schema and all seven provider types.
RICH: dict[str, Any] = {
    "version": 1,
    "providers": {
        "cohere": {
            "api_key_env": "COHERE_API_KEY",
            "base_url": "https://api.cohere.com",
            "concurrency": 8,
            "requests_per_minute": 400,
        },
        "bfl-eu": {"type": "bfl", "base_url": "https://api.eu1.bfl.ai", "api_key_env": "BFL_KEY"},
        "openai": {"type": "openai"},
        "mistral": {"api_key_env": "MISTRAL_API_KEY"},
        "together": {"requests_per_minute": 60},
        "fw": {"type": "fireworks", "account_id": "acme-ml", "concurrency": 2},
        "aws": {
            "type": "bedrock",
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:5000",
            "profile": "ml",
        },
    },
    "state": "postgresql://janitor@db.internal:5432/ftjanitor",
    "audit_log": "state",
    "notify": [
        {"name": "team", "url_env": "TEAM_WEBHOOK_URL", "format": "slack", "events": ["deleted"]},
        {"name": "ops", "url_env": "OPS_URL", "events": ["marked", "failed", "limit"]},
    ],
    "jobs": [
        {
            "name": "nightly",
            "schedule": "0 3 * * 1-5",
            "max_deletions": 25,
            "max_deletions_percent": 30,
            "grace": "7d",
            "misfire_grace_time": "15m",
            "targets": [
                {
                    "provider": "cohere",
                    "status": ["STATUS_FAILED", "STATUS_PAUSED"],
                    "older_than": "3d",
                    "name": "exp-*",
                    "base_model": "command-r*",
                    "keep_latest": 2,
                    "protect": ["2f6a0c3e-1d5b-4e7f-9a8b-0c1d2e3f4a5b"],
                },
                {"provider": "cohere", "unused_for": "60d"},
                {"provider": "bfl-eu", "ids": ["lora-1", "lora-2"]},
                {"provider": "openai", "ids": ["ft:gpt-4o-mini-2024-07-18:acme:exp:AbC123xy"]},
                {"provider": "mistral", "base_model": "open-mistral-7b", "older_than": "30d"},
                {"provider": "together", "status": ["error", "queued"], "older_than": "2d"},
                {"provider": "fw", "status": ["READY"], "match_all": True, "keep_latest": 3},
                {"provider": "aws", "status": ["Failed"], "older_than": "1d"},
            ],
        },
        {
            "name": "every-six-hours",
            "schedule": "every 6h",
            "targets": [{"provider": "bfl", "name": "scratch-*", "older_than": "14d"}],
        },
    ],
}

# Values that are wrong somewhere, by family: the strategy picks a family that differs
# from the node's own type (scalar for list, list for scalar, mapping for string, ...)
# or an extreme of its own type (huge numbers, control characters, empty values).
EMPTIES: list[Any] = [None, "", [], {}]
BOOLEANS: list[Any] = [True, False]
NUMBERS: list[Any] = [
    0,
    -1,
    7,
    2**63,
    10**30,
    -(10**30),
    1e308,
    -1e308,
    2.5,
    1.0,
    float("nan"),
    float("inf"),
    float("-inf"),
]
STRINGS: list[Any] = [
    "x",
    "30d",
    "every 1s",
    "0 0 31 2 *",
    "cohere",
    "STATUS_FAILED",
    "../etc/passwd",
    "postgresql://u:pw@h/db",
    "state",
    "ft:",
    "a" * 300,
    "\x00",
    "tab\there",
    "line\nbreak",
    "esc\x1b[31mred",
    "del\x7f and c1\x85 and\u2028sep",
]
CONTROL = [chr(c) for c in (*range(0x00, 0x20), 0x7F, 0x85, 0x9B, 0x2028, 0x2029)]
LISTS: list[Any] = [["x"], [1, 2], ["a", None], [{"provider": "cohere"}], [[]], [{}]]
MAPPINGS: list[Any] = [{"x": 1}, {"provider": "cohere"}, {"name": "j"}, {"": None}]


class Chooser:
    """The one source of choices, so hypothesis and a seeded Random share the mutator."""

    def __init__(self, pick: Callable[[Sequence[Any]], Any], number: Callable[[int, int], int]):
        self.pick = pick
        self.number = number


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _control_string(choose: Chooser) -> str:
    return "".join(choose.pick([*CONTROL, "a", " ", "é"]) for _ in range(choose.number(1, 8)))


def wrong_value(original: Any, choose: Chooser) -> Any:
    """A value of another type than ``original``, or an extreme of its own type."""
    if isinstance(original, dict):
        families = ["empty", "bool", "number", "string", "list", "deep", "control"]
    elif isinstance(original, list):
        families = ["empty", "bool", "number", "string", "mapping", "deep", "control"]
    elif isinstance(original, bool):
        families = ["empty", "number", "string", "list", "mapping"]
    elif isinstance(original, int | float):
        families = ["empty", "bool", "number", "string", "list", "mapping", "control"]
    else:  # strings and nulls
        families = ["empty", "bool", "number", "string", "list", "mapping", "deep", "control"]
    family = choose.pick(families)
    if family == "empty":
        return copy.deepcopy(choose.pick(EMPTIES))
    if family == "bool":
        return choose.pick(BOOLEANS)
    if family == "number":
        return choose.pick(NUMBERS)
    if family == "string":
        return choose.pick(STRINGS)
    if family == "list":
        return copy.deepcopy(choose.pick(LISTS))
    if family == "mapping":
        return copy.deepcopy(choose.pick(MAPPINGS))
    if family == "deep":
        return _deep_list(choose.number(2, 70))  # past 64 the loader refuses the nesting
    return _control_string(choose)


NodePath = tuple[str | int, ...]


def positions(data: Any, path: NodePath = ()) -> Iterator[NodePath]:
    """Every node: the document, each mapping value and each list item."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from positions(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from positions(value, (*path, index))


def node_at(data: Any, path: NodePath) -> Any:
    for part in path:
        data = data[part]
    return data


def replaced(data: Any, path: NodePath, value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(data)
    node_at(out, path[:-1])[path[-1]] = value
    return out


def sources() -> list[Any]:
    return [yaml.safe_load(p.read_text()) for p in EXAMPLES] + [RICH]


SOURCES = sources()


def mutated(choose: Chooser) -> str:
    """One valid source with one node swapped, as YAML text."""
    data = choose.pick(SOURCES)
    path = choose.pick(list(positions(data)))
    return render(replaced(data, path, wrong_value(node_at(data, path), choose)))


def render(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def wrong_type_documents(n: int, seed: int) -> list[str]:
    """``n`` job files, each a valid source with one node swapped (deterministic)."""
    rng = random.Random(seed)
    choose = Chooser(lambda seq: seq[rng.randrange(len(seq))], rng.randint)
    return [mutated(choose) for _ in range(n)]


@st.composite
def wrong_type_document(draw: st.DrawFn) -> str:
    choose = Chooser(lambda seq: draw(st.sampled_from(seq)), lambda a, b: draw(st.integers(a, b)))
    return mutated(choose)


TALLY = {"files": 0, "valid": 0, "invalid": 0, "crashes": 0}
_LINE = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+):(?P<col>[0-9]+): (?P<path>.+?): (?P<msg>.+)$")


def check_loads_or_reports(path: str, tally: dict[str, int] = TALLY) -> JobFile | None:
    """The property: a JobFile, or JobFileError with one-line located diagnostics."""
    tally["files"] += 1
    try:
        job_file = load_job_file(path)
    except JobFileError as exc:
        tally["invalid"] += 1
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            text = str(diagnostic)
            assert len(text.splitlines()) == 1, text
            match = _LINE.match(text)
            assert match and match["file"] == path, text
            assert int(match["line"]) >= 1 and int(match["col"]) >= 1, text
            assert "internal error" not in diagnostic.message, text
        return None
    except BaseException:
        tally["crashes"] += 1
        raise
    tally["valid"] += 1
    assert isinstance(job_file, JobFile)
    return job_file


def test_every_source_is_valid(tmp_path: Path) -> None:
    for index, data in enumerate(SOURCES):
        path = tmp_path / f"source-{index}.yaml"
        path.write_text(render(data))
        assert load_job_file(str(path)).jobs


def test_one_wrong_node_never_crashes(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    before = TALLY["files"]

    @settings(
        max_examples=2500,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(document=wrong_type_document())
    def check(document: str) -> None:
        path.write_text(document)
        check_loads_or_reports(str(path))

    check()
    generated = TALLY["files"] - before
    print(
        f"\nwrong-type property test: {generated} generated files"
        f" ({TALLY['invalid']} invalid, {TALLY['valid']} valid so far),"
        f" {TALLY['crashes']} crashes"
    )
    assert generated >= 2000


def test_every_position_of_the_rich_file(tmp_path: Path) -> None:
    """Exhaustive over positions: each node of RICH swapped for each fixed wrong value."""
    path = tmp_path / "wrong.yaml"
    swaps = [None, "", [], {}, True, 10**30, float("nan"), "\x1b[2J", ["x"], {"x": 1}]
    count = 0
    for position in positions(RICH):
        for value in swaps:
            path.write_text(render(replaced(RICH, position, value)))
            check_loads_or_reports(str(path))
            count += 1
    print(f"\nevery position of the rich file: {count} files, {TALLY['crashes']} crashes")
    assert count > 1000


def test_wrong_type_documents_are_deterministic() -> None:
    first = wrong_type_documents(50, seed=7)
    assert first == wrong_type_documents(50, seed=7)
    assert first != wrong_type_documents(50, seed=8)
    assert len(set(first)) > 40


# -- the older fuzzers: random YAML, random bytes and mutated example lines --------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["30d", "every 2s", "0 3 * * 0", "cohere", "bfl", "STATUS_FAILED", "../x"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            "version",
            "jobs",
            "providers",
            "name",
            "targets",
            "provider",
            "ids",
            "older_than",
            "unused_for",
            "status",
            "base_model",
            "keep_latest",
            "protect",
            "match_all",
            "schedule",
            "max_deletions",
            "max_deletions_percent",
            "grace",
            "api_key_env",
            "base_url",
            "type",
            "region",
            "account_id",
            "cohere",
            "bfl",
            "openai",
            "bedrock",
            "fireworks",
            "audit_log",
            "state",
            "notify",
        ]
    ),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=30,
)


OTHER_FUZZ = {"files": 0, "valid": 0, "invalid": 0, "crashes": 0}


def _validate(tmp: Path, data: bytes) -> None:
    """The validate command in-process: exit 0 or 2, never an exception."""
    path = tmp / "fuzz.yaml"
    path.write_bytes(data)
    code = validate_command.run(argparse.Namespace(paths=[str(path)], json=True))
    assert code in (0, 2)
    check_loads_or_reports(str(path), OTHER_FUZZ)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(doc=documents)
def test_random_documents(tmp_path: Path, capsys: Any, doc: object) -> None:
    _validate(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode())
    capsys.readouterr()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes(tmp_path: Path, capsys: Any, raw: bytes) -> None:
    _validate(tmp_path, raw)
    capsys.readouterr()


@st.composite
def mutated_examples(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(EXAMPLES)).read_bytes().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "flip", "insert", "indent"]))
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, line)
        elif action == "flip" and line:
            pos = draw(st.integers(0, len(line) - 1))
            lines[index] = line[:pos] + bytes([draw(st.integers(0, 255))]) + line[pos + 1 :]
        elif action == "insert":
            lines.insert(index, draw(st.text(max_size=30)).encode() + b"\n")
        else:
            lines[index] = b"  " + line
        if not lines:
            lines = [b"\n"]
    return b"".join(lines)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=mutated_examples())
def test_mutated_examples(tmp_path: Path, capsys: Any, raw: bytes) -> None:
    _validate(tmp_path, raw)
    capsys.readouterr()
