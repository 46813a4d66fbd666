"""Every example validates; every invalid file fails with exactly its expected lines."""

import re
from pathlib import Path

import pytest
import yaml

from runner.cli import main
from runner.jobfile import loader as loader_module
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.loader import MAX_DEPTH
from runner.jobfile.validate import load_job_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "jobs").glob("*.yaml"))
INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+):(\d+): (\S+): (.+)$")


def test_corpus_is_large_enough() -> None:
    assert len(EXAMPLES) >= 4
    assert len(INVALID) >= 25


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(path: Path) -> None:
    job_file = load_job_file(str(path))
    assert job_file.jobs


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_file_reports_expected_diagnostics(path: Path) -> None:
    expected = [m.groups() for line in path.read_text().splitlines() if (m := _EXPECT.match(line))]
    assert expected, f"{path.name} has no '# expect:' lines"
    with pytest.raises(JobFileError) as caught:
        load_job_file(str(path))
    got = caught.value.diagnostics
    assert len(got) == len(expected), [str(d) for d in got]
    for (line, col, json_path, text), diagnostic in zip(expected, got, strict=True):
        assert (diagnostic.line, diagnostic.col) == (int(line), int(col)), str(diagnostic)
        assert diagnostic.path == json_path, str(diagnostic)
        assert text in diagnostic.message, str(diagnostic)
        assert diagnostic.file == str(path)


def _write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "job.yaml"
    path.write_bytes(data)
    return str(path)


def _single(path: str) -> str:
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    assert len(caught.value.diagnostics) == 1
    return str(caught.value.diagnostics[0])


def test_non_utf8_points_at_the_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, b"version: 1\njobs:\n  - name: caf\xe9\n")
    assert _single(path) == f"{path}:3:14: (document): file is not valid UTF-8"


def test_nul_byte_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"version: 1\njobs: [\x00]\n")
    assert _single(path) == f"{path}:2:8: (document): character '\\x00' is not allowed in YAML"


def test_oversize_file_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"# " + b"x" * (1024 * 1024) + b"\n")
    assert "file is over 1048576 bytes" in _single(path)


def test_empty_file_refused(tmp_path: Path) -> None:
    assert _single(_write(tmp_path, b"")).endswith("the file is empty")


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read: No such file or directory" in _single(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
@pytest.mark.parametrize("depth", [65, 999, 1001, 5000])
def test_deep_nesting_refused_in_our_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: str, depth: int
) -> None:
    # Our limit decides, whichever parser is installed and whatever limit of its own
    # it has (libyaml refuses deep nesting by itself, in its own words, since PyYAML 6.0.3).
    if not hasattr(yaml, loader):
        pytest.skip(f"this PyYAML has no {loader}")
    monkeypatch.setattr(loader_module, "_Loader", getattr(yaml, loader))
    path = _write(tmp_path, b"version: 1\njobs: " + b"[" * depth + b"]" * depth + b"\n")
    assert _single(path) == f"{path}:2:1: jobs: nesting deeper than {MAX_DEPTH} levels"


def test_deep_nesting_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, b"version: 1\njobs: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"{path}:2:1: jobs: nesting deeper than {MAX_DEPTH} levels"


def test_recursive_alias_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"version: 1\njobs: &a [*a]\n")
    assert _single(path).endswith("2:1: jobs: alias *a refers to itself")


def test_bom_and_crlf_accepted(tmp_path: Path) -> None:
    text = "version: 1\r\njobs:\r\n  - {name: j, targets: [{provider: cohere, older_than: 1d}]}\r\n"
    job_file = load_job_file(_write(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert job_file.jobs[0].name == "j"


def test_defaults_and_connections(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        b"version: 1\njobs:\n  - name: j\n    targets:\n"
        b"      - {provider: cohere, older_than: 30d, keep_latest: 2}\n"
        b"      - {provider: bfl, ids: [lora-1]}\n",
    )
    job_file = load_job_file(path)
    job = job_file.jobs[0]
    assert job.max_deletions == 50
    assert job_file.connections["cohere"].base_url == "https://api.cohere.com"
    assert job_file.connections["cohere"].api_key_env == "COHERE_API_KEY"
    assert job_file.connections["bfl"].base_url == "https://api.us1.bfl.ai"
    assert job_file.connections["bfl"].concurrency == 4
    assert job_file.audit_log == tmp_path / "audit" / "ftjanitor.jsonl"
    assert job.targets[0].older_than is not None and job.targets[0].older_than.days == 30
    assert len(job_file.sha256) == 64
