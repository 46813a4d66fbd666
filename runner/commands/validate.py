"""``ftjanitor validate PATH...``: every problem in every file, gcc-style."""

import argparse
import json
import sys
from pathlib import Path

from runner.commands.common import load
from runner.errors import EXIT_INVALID, EXIT_OK
from runner.jobfile.diagnostics import Diagnostic, JobFileError
from runner.jobfile.loader import job_files


def check(path: str) -> list[Diagnostic]:
    folder = Path(path)
    if folder.is_dir() and folder.suffix not in (".yaml", ".yml"):  # a *.yaml folder: loaded
        return [Diagnostic(path, 1, 1, "(document)", "no *.yaml or *.yml files in this folder")]
    try:
        load(path)
    except JobFileError as exc:
        return exc.diagnostics
    return []


def run(args: argparse.Namespace) -> int:
    results = {path: check(path) for path in job_files(args.paths)}
    invalid = sum(1 for errors in results.values() if errors)
    errors = sum(len(errors) for errors in results.values())
    if args.json:
        report = {
            "valid": len(results) - invalid,
            "invalid": invalid,
            "files": [
                {"file": path, "valid": not diags, "errors": [d.as_dict() for d in diags]}
                for path, diags in results.items()
            ],
        }
        print(json.dumps(report, indent=2))
    else:
        for diags in results.values():
            for diagnostic in diags:
                print(diagnostic, file=sys.stderr)
        noun = "file" if len(results) == 1 else "files"
        if invalid:
            found = f"{errors} error" + ("" if errors == 1 else "s")
            print(f"{invalid} of {len(results)} job {noun} invalid ({found})")
        else:
            print(f"{len(results)} job {noun} valid")
    return EXIT_INVALID if invalid else EXIT_OK
