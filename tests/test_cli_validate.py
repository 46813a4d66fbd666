"""`ftjanitor validate` as users run it: real processes, exit codes, output shapes."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from runner.commands import validate as validate_command
from runner.jobfile.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent


def ftj(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())
    assert build_schema()["$schema"].endswith("2020-12/schema")


def test_validate_examples_folder_exits_0() -> None:
    result = ftj("validate", "jobs/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("job files valid")
    assert result.stderr == ""


def test_validate_reports_every_error_gcc_style_and_exits_2() -> None:
    result = ftj("validate", "tests/invalid/28-many-errors.yaml", "jobs/nightly.yaml")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("tests/invalid/28-many-errors.yaml:") for line in lines)
    assert result.stdout.strip() == "1 of 2 job files invalid (4 errors)"


def test_validate_json() -> None:
    result = ftj("validate", "--json", "tests/invalid/09-bad-duration.yaml")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["invalid"] == 1
    (error,) = report["files"][0]["errors"]
    assert error["line"] == 8 and error["path"] == "jobs[0].targets[0].older_than"


def test_bad_command_line_is_one_line_exit_2() -> None:
    result = ftj("validate")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_empty_folder(tmp_path: Path) -> None:
    result = ftj("validate", str(tmp_path))
    assert result.returncode == 2
    assert "no *.yaml or *.yml files" in result.stderr


def test_validate_imports_no_http_scheduler_or_vendor_library() -> None:
    code = (
        "import sys; from runner.cli import main; main(['validate', 'jobs/']);"
        "heavy = ('requests', 'urllib3', 'apscheduler', 'boto3', 'botocore', 'psycopg');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def validate_in_process(
    capsys: pytest.CaptureFixture[str], *paths: str, as_json: bool = False
) -> tuple[int, str, str]:
    code = validate_command.run(argparse.Namespace(paths=list(paths), json=as_json))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("files", "summary"),
    [
        (["tests/invalid/09-bad-duration.yaml"], "1 of 1 job file invalid (1 error)"),
        (
            ["tests/invalid/09-bad-duration.yaml", "jobs/nightly.yaml"],
            "1 of 2 job files invalid (1 error)",
        ),
        (["tests/invalid/42-api-key-env-on-bedrock.yaml"], "1 of 1 job file invalid (2 errors)"),
        (["jobs/nightly.yaml"], "1 job file valid"),
    ],
)
def test_summary_counts_in_correct_plural(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: list[str],
    summary: str,
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _err = validate_in_process(capsys, *files)
    assert out.strip() == summary
    assert code == (0 if "valid" in summary and "invalid" not in summary else 2)


def test_folder_with_broken_symlink_and_yaml_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text((ROOT / "jobs" / "nightly.yaml").read_text())
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "deleted.yaml")
    (tmp_path / "dir.yaml").mkdir()
    code, out, err = validate_in_process(capsys, str(tmp_path))
    assert code == 2
    assert err.splitlines() == [
        f"{tmp_path}/dir.yaml:1:1: (document): is a directory, not a job file",
        f"{tmp_path}/gone.yaml:1:1: (document): broken symlink"
        f" (its target {str(tmp_path / 'deleted.yaml')!r} does not exist)",
    ]
    assert out.strip() == "2 of 3 job files invalid (2 errors)"


def test_every_example_validates_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = validate_in_process(capsys, "jobs/", as_json=True)
    assert code == 0, err
    report = json.loads(out)
    assert report["invalid"] == 0 and report["valid"] == len(list((ROOT / "jobs").glob("*.yaml")))


def test_wheel_ships_the_schema_and_every_module(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it
    # builds, and a test must leave the checkout as it found it.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for part in ("runner", "schemas"):
        shutil.copytree(ROOT / part, source / part, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    import zipfile

    (wheel,) = tmp_path.glob("ftjanitor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "runner/schemas/job.schema.json" in names
    shipped = json.loads(zipfile.ZipFile(wheel).read("runner/schemas/job.schema.json"))
    assert shipped == json.loads((ROOT / "schemas" / "job.schema.json").read_text())
    # Every module and template under runner/: a package missing from pyproject's list
    # would install a tool whose registries (rules, usage sources) come up empty.
    wanted = {
        p.relative_to(ROOT).as_posix()
        for pattern in ("*.py", "templates/*.html")
        for p in (ROOT / "runner").rglob(pattern)
        if "__pycache__" not in p.parts
    }
    assert wanted - set(names) == set()
