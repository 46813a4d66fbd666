"""``ftjanitor plan JOBFILE``: exactly ``run --dry-run``, optionally kept as a plan file."""

import argparse
import os
from pathlib import Path
from typing import Any

from runner import planfile
from runner.clock import system_clock
from runner.commands.run import execute_command, output_format, print_report
from runner.durations import parse_duration
from runner.errors import ConfigError


def run(args: argparse.Namespace) -> Any:
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        raise ConfigError(f"plan: --ttl {exc}") from None
    # All refused before any request, so a bad one costs no listing.
    planfile.check_ttl(ttl)
    key = planfile.plan_key(os.environ) if args.out else None
    outputs = [(args.out, "--out")] if args.out else []
    report = execute_command(args, dry_run=True, outputs=outputs)
    print_report(report, output=output_format(args), show_plans=True)
    if args.out:
        plans = [o.plan for o in report.outcomes if o.plan is not None]
        body = planfile.build(report.planset.job_file, plans, report.now, system_clock(), ttl, key)
        planfile.write(Path(args.out), body)
    return report
