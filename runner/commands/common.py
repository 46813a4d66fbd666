"""What every command that reads a job file does the same way."""

import sys

from runner.jobfile.model import JobFile
from runner.jobfile.validate import load_job_file


def load(path: str) -> JobFile:
    """Load and validate; warn (stderr, one line each) when others could change the file."""
    job_file = load_job_file(path)
    for warning in job_file.warnings:
        print(f"ftjanitor: warning: {warning}", file=sys.stderr)
    return job_file
