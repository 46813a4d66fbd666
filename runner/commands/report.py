"""``ftjanitor report --job-file JOBFILE [--since 90d] [--format ...] [--out FILE]``."""

import argparse
import sys
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from runner.chain import Checked, read_lines
from runner.clock import Clock, system_clock
from runner.commands.common import load
from runner.durations import parse_duration
from runner.errors import EXIT_FAILED, EXIT_OK, ConfigError, StorageError
from runner.jobfile.validate import load_job_file
from runner.outputs import check_output, inputs_of, write_atomic
from runner.reports.history import History
from runner.reports.summary import Verified, report_json
from runner.storage import open_anchored
from runner.text import json_text


def build(job_file_path: str, since: str | None, clock: Clock = system_clock) -> dict[str, Any]:
    """The report's JSON document. ``since`` (a duration) counts back from ``clock()``,
    the wall clock: records' ``ts`` are wall-clock times too."""
    until = clock()
    start: datetime | None = None
    if since is not None:
        try:
            start = until - parse_duration(since)
        except ValueError as exc:
            raise ConfigError(f"report: --since: {exc}") from None
    job_file = load(job_file_path)
    history = History(start)
    refused: StorageError | None = None
    with ExitStack() as stack:
        try:
            _, chain, head = open_anchored(job_file, job_file_path, stack)
            name, lines = chain.name, chain.lines()
        except StorageError as exc:
            # The audit sink takes up no log whose last record is unreadable: read the file
            # as it is, so the walk says where it broke (a damaged log is reported, exit 1).
            if job_file.audit_log is None:
                raise
            refused, name, head = exc, str(job_file.audit_log), None
            try:
                lines = read_lines(stack.enter_context(open(job_file.audit_log, "rb")))
            except OSError:
                raise exc from None
        checked = Checked(lines)
        for _, record in checked.entries():
            if record is not None:
                history.add(record)
        verdict = checked.verdict
    if refused is not None and verdict.ok:
        raise refused  # the log reads well: what was refused is something else
    if not verdict.ok:
        verified = Verified(
            name, False, f"TAMPERED or damaged at seq {verdict.bad_seq}: {verdict.message}"
        )
    elif head:
        verified = Verified(name, False, f"TRUNCATED or replaced: {head}")
    else:
        verified = Verified(name, True, verdict.message)
    return report_json(history, verified, start, until)


def render(report: dict[str, Any], form: str) -> str:
    if form == "json":
        return json_text(report, indent=2) + "\n"
    if form == "html":
        from runner.reports.html import render_report  # Jinja2 only when HTML is asked for

        return render_report(report)
    from runner.reports.text import render_markdown, render_text

    return render_markdown(report) if form == "markdown" else render_text(report)


def run(args: argparse.Namespace) -> int:
    out = None
    if args.out is not None:  # never over what the report is made from, nor the state
        out = check_output(args.out, "--out", inputs_of(load_job_file(args.job_file)))
    report = build(args.job_file, args.since)
    text = render(report, args.format)
    # backslashreplace: a lone surrogate from a provider cannot be UTF-8; its escape can.
    data = text.encode("utf-8", "backslashreplace")
    if out is not None:
        write_atomic(out, data, "the report")
    else:
        _to_stdout(data)
    if not report["audit"]["verified"]:
        print(f"{report['audit']['name']}: {report['audit']['message']}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _to_stdout(data: bytes) -> None:
    """The report on stdout, or one line saying why it cannot be (a reader that went away
    is main()'s to answer, as for every command)."""
    if sys.stdout is None:  # started with stdout closed
        raise StorageError("stdout is closed: cannot write the report (use --out FILE)")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"stdout: cannot write the report: {reason}") from None
