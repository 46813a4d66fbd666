"""``ftjanitor run JOBFILE`` (and ``plan``, which is exactly ``run --dry-run``)."""

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from runner.clock import system_clock
from runner.commands.common import load
from runner.engine import RunOptions, execute
from runner.errors import EXIT_OK
from runner.providers import REGISTRY
from runner.report import render_outcome, render_plan, report_json
from runner.rules import JobPlan


def _confirm(plans: list[JobPlan]) -> bool:
    for plan in plans:
        print(render_plan(plan))
    total = sum(len(p.deletes) for p in plans if not p.limit_message)
    answer = input(f"Delete {total} fine-tunes? This cannot be undone. [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rdeleting {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def execute_command(args: argparse.Namespace, dry_run: bool) -> int:
    job_file = load(args.jobfile)
    if args.now and args.now < system_clock():
        undated = sorted(
            c.name for c in job_file.connections.values() if not REGISTRY[c.type].has_created_at
        )
        if undated:
            print(
                "ftjanitor: warning: --now is in the past: first sightings of new models"
                f" on {', '.join(undated)} are recorded at that time,"
                " so later runs will see them as older",
                file=sys.stderr,
            )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        print(
            f"\nftjanitor: {signal.Signals(signum).name}:"
            " finishing deletes in flight, starting no new ones",
            file=sys.stderr,
        )

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    options = RunOptions(
        dry_run=dry_run,
        now=args.now,
        jobs=args.job or None,
        confirm=_confirm
        if interactive and not dry_run and not getattr(args, "yes", False)
        else None,
        stop=stop,
        progress=_progress if sys.stderr.isatty() and not dry_run else None,
    )
    report = execute(job_file, options)
    if report.cancelled:
        print("cancelled: nothing deleted")
        return EXIT_OK
    if args.json:
        print(json.dumps(report_json(report), indent=2))
        return report.exit_code
    for record in report.reconciled:
        print(
            f"reconciled: {record['provider']} {record['model_id']} was {record['result']}"
            " after an interrupted run"
        )
    for outcome in report.outcomes:
        if dry_run and outcome.plan is not None:
            print(render_plan(outcome.plan))
        print(render_outcome(outcome))
    return report.exit_code


def run(args: argparse.Namespace) -> int:
    return execute_command(args, dry_run=args.dry_run)
