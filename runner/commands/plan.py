"""``ftjanitor plan JOBFILE``: exactly ``run --dry-run``."""

import argparse
from typing import Any

from runner.commands.run import execute_command, print_report


def run(args: argparse.Namespace) -> Any:
    report = execute_command(args, dry_run=True)
    print_report(report, as_json=args.json, show_plans=True)
    return report
