"""``ftjanitor plan JOBFILE``: exactly ``run --dry-run``."""

import argparse

from runner.commands.run import execute_command


def run(args: argparse.Namespace) -> int:
    return execute_command(args, dry_run=True)
