"""Command line: parse, dispatch to one command module, turn errors into one line + exit code."""

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from runner import __version__
from runner.errors import EXIT_FAILED, EXIT_INVALID, CommandError
from runner.jobfile.diagnostics import JobFileError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ftjanitor", description="Declarative cleanup of fine-tuned models.")
    parser.add_argument("--version", action="version", version=f"ftjanitor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("validate", help="check job files (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
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
    except KeyboardInterrupt:
        print("ftjanitor: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        detail = f"{type(exc).__name__}: {exc}"
        print(f"ftjanitor: internal error: {detail} (rerun with --debug)", file=sys.stderr)
        return EXIT_FAILED
