"""Command line: parse, dispatch to one command module, turn errors into one line + exit code."""

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import NoReturn

from runner import __version__
from runner.clock import parse_instant
from runner.errors import EXIT_FAILED, EXIT_INVALID, CommandError
from runner.jobfile.diagnostics import JobFileError
from runner.providers.base import ProviderError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("ftjanitor").strip()
        raise CommandError(f"{command}: {message}" if command else message)


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ftjanitor", description="Declarative cleanup of fine-tuned models.")
    parser.add_argument("--version", action="version", version=f"ftjanitor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("validate", help="check job files (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")

    p = sub.add_parser("inventory", help="list what each connection can see")
    p.add_argument("jobfile", metavar="JOBFILE")
    p.add_argument("--provider", metavar="NAME", help="only this connection")
    p.add_argument("--json", action="store_true")

    for name, help_text in (
        ("plan", "show what a run would delete (sends nothing mutating)"),
        ("run", "delete what the plan selects"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("jobfile", metavar="JOBFILE")
        p.add_argument("--job", action="append", metavar="NAME", help="only this job (repeatable)")
        p.add_argument(
            "--now", type=_instant, metavar="ISO8601", help="pin the clock for age rules"
        )
        p.add_argument("--json", action="store_true")
        if name == "run":
            p.add_argument("--dry-run", action="store_true", help="same as plan")
            p.add_argument("--yes", action="store_true", help="do not ask on a terminal")

    p = sub.add_parser("schedule", help="daemon: run every job that has a schedule")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--log-format", choices=["text", "json"], default="text")

    p = sub.add_parser("audit", help="verify or show an audit log")
    p.add_argument("action", choices=["verify", "show"])
    p.add_argument(
        "audit_log", nargs="?", metavar="AUDIT_LOG", help="default: audit/ftjanitor.jsonl"
    )
    p.add_argument("--job", metavar="NAME")
    p.add_argument("--since", type=_instant, metavar="ISO8601")
    p.add_argument("--json", action="store_true", help="show: JSON lines, for jq")

    p = sub.add_parser("simulate", help="serve fake Cohere + BFL APIs on 127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", metavar="FILE", help="YAML/JSON with cohere: and bfl: lists")
    p.add_argument("--models", type=int, default=50, help="generated Cohere fine-tunes")
    p.add_argument("--bfl-models", type=int, default=10, help="generated BFL finetunes")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    p.add_argument("--rate-limit", type=float, default=None, help="requests/s before 429")
    p.add_argument("--cohere-key", help="the only Cohere key accepted (default: any)")
    p.add_argument("--bfl-key", help="the only BFL key accepted (default: any)")
    p.add_argument("--deleted-mode", choices=["vanish", "status"], default="vanish")
    p.add_argument("--log", metavar="FILE", help="append every request as a JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = build_parser().parse_args(args_list)
        module = importlib.import_module(f"runner.commands.{args.command}")
        code: int = module.run(args)
        return code
    except JobFileError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return EXIT_INVALID
    except CommandError as exc:
        print(f"ftjanitor: {exc}", file=sys.stderr)
        return exc.exit_code
    except ProviderError as exc:
        # Rejected credentials are like missing ones: exit 2, and nothing was deleted.
        print(f"ftjanitor: {exc}", file=sys.stderr)
        return EXIT_INVALID if exc.auth else EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ftjanitor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        detail = f"{type(exc).__name__}: {exc}"
        print(f"ftjanitor: internal error: {detail} (rerun with --debug)", file=sys.stderr)
        return EXIT_FAILED
