"""Random YAML and mutated examples never crash validate: only exit 0 or 2, one line each."""

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "jobs").glob("*.yaml"))

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
            "status",
            "keep_latest",
            "protect",
            "match_all",
            "schedule",
            "max_deletions",
            "api_key_env",
            "base_url",
            "type",
            "cohere",
            "bfl",
            "audit_log",
            "state",
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


def _validate(tmp: Path, data: bytes, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp / "fuzz.yaml"
    path.write_bytes(data)
    code = main(["validate", str(path)])
    _out, err = capsys.readouterr()
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=documents)
def test_random_documents(tmp_path: Path, capsys, doc: object) -> None:  # type: ignore[no-untyped-def]
    _validate(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode(), capsys)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes(tmp_path: Path, capsys, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    _validate(tmp_path, raw, capsys)


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
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=mutated_examples())
def test_mutated_examples(tmp_path: Path, capsys, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    _validate(tmp_path, raw, capsys)
