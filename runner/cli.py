"""Command line: parse, dispatch to one command module, and decide the exit code.

Exit codes are decided here and nowhere else: from the kind of error a command raised,
or from what its run report says.
"""

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from runner import __version__
from runner.clock import parse_instant
from runner.errors import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    ConfigError,
    FtjanitorError,
    ProviderError,
    StorageError,
)
from runner.jobfile.diagnostics import JobFileError
from runner.quickexit import QuickExit
from runner.ref import DEFAULT_KIND

if TYPE_CHECKING:
    from runner.engine import RunReport  # only runs import the engine (and HTTP)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("ftjanitor").strip()
        raise ConfigError(f"{command}: {message}" if command else message)


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobfile", metavar="JOBFILE", help="the job file (YAML)")
    p.add_argument(
        "--job", action="append", metavar="NAME", help="only this job (repeatable; default: all)"
    )
    p.add_argument(
        "--now",
        type=_instant,
        metavar="ISO8601",
        help="pin the clock for age rules (run refuses a time in the future)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")


def build_parser(*, simulate: bool = True) -> argparse.ArgumentParser:
    """The whole command line. ``simulate=False`` leaves out the simulator's own options,
    which import every fake provider: other commands start faster without them."""
    parser = _Parser(prog="ftjanitor", description="Declarative cleanup of fine-tuned models.")
    parser.add_argument("--version", action="version", version=f"ftjanitor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("validate", help="check job files (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="job files or folders of *.yaml")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")

    p = sub.add_parser("inventory", help="list what each connection can see")
    p.add_argument("jobfile", metavar="JOBFILE", help="the job file (YAML)")
    p.add_argument("--provider", metavar="NAME", help="only this connection")
    p.add_argument(
        "--kind",
        default=DEFAULT_KIND,
        metavar="KIND",
        help="what to list: model (the default) or another kind of the connections' types",
    )
    p.add_argument("--json", action="store_true", help="machine-readable list on stdout")

    p = sub.add_parser("plan", help="show what a run would delete (sends nothing mutating)")
    _jobs_options(p)
    p.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="text for a terminal, json, or markdown for a pull-request comment"
        " (default: %(default)s)",
    )
    p.add_argument("--out", metavar="PLAN.json", help="also write the plan for `run --plan`")
    p.add_argument(
        "--ttl",
        default="24h",
        metavar="DURATION",
        help="how long the written plan may be applied (default: %(default)s)",
    )

    p = sub.add_parser("run", help="delete what the plan selects")
    _jobs_options(p)
    p.add_argument("--dry-run", action="store_true", help="same as plan")
    p.add_argument(
        "--plan",
        metavar="PLAN.json",
        help="apply exactly this reviewed plan: delete what it names and is still selected",
    )
    p.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write this run's Prometheus metrics there, atomically (textfile collector)",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="delete without asking (needed when standard input is not a terminal)",
    )

    p = sub.add_parser("schedule", help="daemon: run every job that has a schedule")
    p.add_argument("paths", nargs="+", metavar="PATH", help="job files or folders of *.yaml")
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines on stderr (default: %(default)s)",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz, /readyz, the status page / and /api/status there"
        " (default: off)",
    )

    p = sub.add_parser("audit", help="verify, show or export an audit log")
    p.add_argument(
        "action",
        choices=["verify", "show", "export"],
        help="verify the chain (and, with --job-file, its head), show records, or print the"
        " chain as JSON Lines",
    )
    p.add_argument(
        "audit_log",
        nargs="?",
        metavar="AUDIT_LOG",
        help="the log file (default: audit/ftjanitor.jsonl)",
    )
    p.add_argument(
        "--job-file",
        metavar="JOBFILE",
        help="the audit wherever this job file keeps it (file or state database)",
    )
    p.add_argument(
        "--reanchor",
        action="store_true",
        help="verify --job-file: accept the log's current end as its head (after a restore)",
    )
    p.add_argument("--job", metavar="NAME", help="show: only this job's records")
    p.add_argument("--since", type=_instant, metavar="ISO8601", help="show: records from then on")
    p.add_argument("--json", action="store_true", help="show: JSON lines, for jq")

    p = sub.add_parser("report", help="what was deleted, what it saves, what is pending")
    p.add_argument(
        "--job-file",
        required=True,
        metavar="JOBFILE",
        help="the audit log (file or state database) and state this job file names",
    )
    p.add_argument(
        "--since",
        metavar="DURATION",
        help="only records from this long ago until now, e.g. 90d (default: the whole log)",
    )
    p.add_argument(
        "--format",
        choices=["text", "json", "markdown", "html"],
        default="text",
        help="text, json, markdown, or html (one self-contained file) (default: %(default)s)",
    )
    p.add_argument("--out", metavar="FILE", help="write the report there instead of stdout")

    p = sub.add_parser("simulate", help="serve fake provider APIs on 127.0.0.1")
    if simulate:
        importlib.import_module("runner.commands.simulate").add_arguments(p)
    return parser


def exit_code(result: "int | RunReport") -> int:
    """A command's result -> its exit code: an int as it is, a run report by its jobs."""
    if isinstance(result, int):
        return result
    if result.cancelled:
        return EXIT_OK
    if result.late_failure is not None:
        return EXIT_FAILED  # a store or output failed after deletes went out
    if result.auth_failed and not result.sent.is_set():
        # Rejected credentials are like missing ones; but once a delete went out on
        # another connection, "nothing was deleted" (2) can no longer be said.
        return EXIT_INVALID
    fine = ("ok", "skipped")  # skipped: another process is running that job right now
    return EXIT_OK if all(o.status in fine for o in result.outcomes) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        parser = build_parser(simulate="simulate" in args_list)
        args, extra = parser.parse_known_args(args_list)
        # argparse fills an optional positional (audit's AUDIT_LOG) only from words before
        # the first option: `audit show --json LOG` leaves LOG over, and it is that one.
        late = len(extra) == 1 and not extra[0].startswith("-")
        if late and args.command == "audit" and args.audit_log is None:
            args.audit_log, extra = extra[0], []
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        module = importlib.import_module(f"runner.commands.{args.command}")
        return exit_code(module.run(args))
    except JobFileError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return EXIT_INVALID
    except ProviderError as exc:
        # Rejected credentials are like missing ones: exit 2, and nothing was deleted.
        print(f"ftjanitor: {exc}", file=sys.stderr)
        return EXIT_INVALID if exc.auth else EXIT_FAILED
    except (ConfigError, StorageError) as exc:
        print(f"ftjanitor: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except FtjanitorError as exc:
        print(f"ftjanitor: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ftjanitor: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        # The machine's doing, not ours (ftjanitor's own files raise StorageError): most
        # often its output could not be written (`> /dev/full`, a disk that filled up).
        print(f"ftjanitor: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if debug:
            raise
        detail = f"{type(exc).__name__}: {exc}"
        print(f"ftjanitor: internal error: {detail} (rerun with --debug)", file=sys.stderr)
        return EXIT_FAILED


def console() -> NoReturn:
    """The ``ftjanitor`` command and ``python -m runner``: ``main``, then a quick exit
    (runner.quickexit)."""
    leaving = QuickExit()
    leaving.code = main()
    raise SystemExit(leaving.code)
