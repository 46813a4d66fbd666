"""The README cannot drift from the code: its provider table is the registered specs' own,
every YAML block that claims to be a job file validates as one when copied, and the version
it installs is the one `--version` prints."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

import runner
from runner.cli import main
from runner.jobfile.validate import load_job_file
from runner.providers.table import provider_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A job file's own top-level keys: a block holding only these is a job-file fragment.
FRAGMENT_KEYS = {"notify", "owner_tag", "providers", "state", "audit_log"}
FRAGMENT_BASE = "version: 1\nproviders: {cohere: {}}\njobs: [{name: j, targets: [{provider: cohere, older_than: 30d}]}]\n"


def yaml_blocks() -> list[tuple[int, str]]:
    """(line number, text) of every ```yaml block in the README."""
    text = README.read_text("utf-8")
    found = []
    for match in re.finditer(r"^```ya?ml[^\n]*\n(.*?)^```", text, re.M | re.S):
        found.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


def kind_of(text: str) -> str:
    """What a block claims to be. A GitHub workflow has `jobs:` too, but also its `on:`
    trigger (which YAML 1.1 reads as the key True)."""
    data: Any = yaml.safe_load(text)
    if isinstance(data, dict) and ({"on", True} & data.keys()):
        return "workflow"
    if isinstance(data, dict) and {"jobs", "version"} & data.keys():
        return "job file"
    if isinstance(data, dict) and data.keys() <= FRAGMENT_KEYS:
        return "fragment"
    return "other"


def test_readme_holds_the_generated_provider_table() -> None:
    assert provider_table() in README.read_text("utf-8")


def test_every_yaml_block_is_classified() -> None:
    kinds = [kind_of(text) for _, text in yaml_blocks()]
    # The README's blocks today: eight job files, a CI workflow, an alert rule, two notify
    # fragments. A new block must be one of the checked kinds, or this count says so.
    assert sorted(kinds) == [*["fragment"] * 2, *["job file"] * 8, "other", "workflow"]


@pytest.mark.parametrize("line, text", yaml_blocks(), ids=lambda v: str(v)[:12])
def test_every_job_file_block_validates_as_copied(tmp_path: Path, line: int, text: str) -> None:
    kind = kind_of(text)
    if kind == "fragment":  # spliced into a minimal job file, as a reader would
        text = FRAGMENT_BASE + text
    elif kind != "job file":
        pytest.skip(f"README line {line}: a {kind}, not a job file")
    path = tmp_path / "job.yaml"
    path.write_text(text)
    load_job_file(str(path))  # raises JobFileError with every problem and its line


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "runner.__version__"}
    declared = runner.__version__
    assert version("ftjanitor") == declared  # what pip installed is what the source says
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"ftjanitor {declared}\n"
