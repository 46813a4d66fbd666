"""`ftjanitor validate` as users run it: real processes, exit codes, output shapes."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from runner.jobfile.validate import schema

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
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"].endswith("2020-12/schema")


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


def test_validate_imports_neither_requests_nor_apscheduler() -> None:
    code = (
        "import sys; from runner.cli import main; main(['validate', 'jobs/']);"
        "print(sorted(m for m in ('requests', 'apscheduler', 'urllib3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_wheel_ships_the_schema(tmp_path: Path) -> None:
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
            str(ROOT),
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
