"""``ftjanitor run JOBFILE`` (and ``plan``, which is exactly ``run --dry-run``)."""

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from runner import events as ev
from runner import planfile
from runner.clock import system_clock
from runner.commands.common import load
from runner.durations import format_age
from runner.engine import PlanSet, RunOptions, RunReport, execute
from runner.errors import ConfigError, StorageError
from runner.outputs import check_output, inputs_of
from runner.ref import kind_prefix
from runner.report import item, render_markdown, render_outcome, render_plan, report_json

if TYPE_CHECKING:
    from runner.metrics import Metrics

FUTURE_SLACK = timedelta(minutes=5)  # clocks drift; a typo in a year does not


class Progress:
    """A run-event subscriber: ``deleting 3/40`` rewritten in place, on a terminal only."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.total = 0
        self.done = 0

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Planned):
            self.total += 1
        elif isinstance(event, ev.Outcome) and not event.will_retry:
            self.done += 1
            self.stream.write(f"\rdeleting {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


class SayWaiting:
    """A run-event subscriber: an accepted delete may be polled for minutes, so it is said
    out loud (on stderr, terminal or not) and a run never looks hung."""

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Waiting):
            notice(
                f"waiting for {item(event.model.ref)}: the"
                f" delete was accepted (HTTP {event.http_status}); looking it up until it is"
                f" gone, at most {format_age(event.within)}"
            )


def _terminal() -> TextIO:
    """Where the plan and the question go: the terminal itself, so `| tee` still asks."""
    try:
        return open("/dev/tty", "w", encoding="utf-8")
    except OSError:
        return sys.stderr


def _confirm(planset: PlanSet) -> bool:
    out = _terminal()
    try:
        for plan in planset.plans.values():
            print(render_plan(plan), file=out)
        total = sum(len(p.deletes) for p in planset.plans.values())
        marks = sum(len(p.having("mark")) for p in planset.plans.values())
        what = f"Delete {total} fine-tunes" + (f" and mark {marks}" if marks else "")
        print(f"{what}? This cannot be undone. [y/N] ", end="", file=out, flush=True)
        answer = sys.stdin.readline()
    finally:
        if out is not sys.stderr:
            out.close()
    return answer.strip().lower() in ("y", "yes")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM finish deletes in flight and start none; the old handlers return."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        print(
            f"\nftjanitor: {signal.Signals(signum).name}:"
            " finishing deletes in flight, starting no new ones",
            file=sys.stderr,
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def notice(message: str) -> None:
    print(f"ftjanitor: {message}", file=sys.stderr, flush=True)


def check_now(args: argparse.Namespace, dry_run: bool) -> None:
    if args.now is not None and not dry_run and args.now > system_clock() + FUTURE_SLACK:
        raise ConfigError(
            f"run: --now {args.now:%Y-%m-%dT%H:%M:%SZ} is in the future: a run ages every"
            " model by the clock, so it refuses (plan --now may look anywhere in time)"
        )


def check_confirmable(args: argparse.Namespace, dry_run: bool) -> bool:
    """True when a person must be asked. Without a terminal on standard input nobody can
    answer, so without --yes nothing is deleted (exit 2)."""
    if dry_run or getattr(args, "yes", False):
        return False
    if not sys.stdin.isatty():
        raise ConfigError(
            "run: standard input is not a terminal, so nobody can confirm the deletes:"
            " pass --yes (cron, CI), or run `ftjanitor plan` to look first; nothing was sent"
        )
    return True


def execute_command(
    args: argparse.Namespace,
    dry_run: bool,
    *,
    sinks: list[ev.Sink] | None = None,
    outputs: Sequence[tuple[str, str]] = (),
) -> RunReport:
    """``outputs``: (path, option) of each file the command will write, checked once the
    job file says what they must not replace, before anything is opened or sent."""
    check_now(args, dry_run)
    ask = check_confirmable(args, dry_run)
    job_file = load(args.jobfile)
    guarded = inputs_of(job_file)
    if getattr(args, "plan", None):
        guarded[Path(args.plan)] = "the reviewed plan being applied"
    for path, option in outputs:
        check_output(path, option, guarded)
    reviewed = None
    if getattr(args, "plan", None):
        # Checked before anything is opened or sent: an edited, stale or foreign plan
        # stops here with exit 2.
        reviewed = planfile.load(Path(args.plan), job_file, system_clock())
        unknown = set(args.job or ()) - set(reviewed.deletes)
        if unknown:
            raise ConfigError(f"--plan {args.plan}: has no job {sorted(unknown)[0]!r}")
        if not reviewed.deletes:
            # To the engine no job names means every job: a plan naming none applies none.
            notice(f"--plan {args.plan}: the plan names no job; nothing to apply")
            return RunReport(PlanSet(job_file, args.now or system_clock(), {}), [], [])
    stop = threading.Event()
    extra: list[ev.Sink] = list(sinks or [])
    if not dry_run:
        extra.append(SayWaiting())
    if not dry_run and sys.stderr.isatty():
        extra.append(Progress(sys.stderr))
    options = RunOptions(
        dry_run=dry_run,
        now=args.now,
        jobs=(args.job or list(reviewed.deletes)) if reviewed else (args.job or None),
        confirm=_confirm if ask else None,
        stop=stop,
        notice=notice,
        sinks=extra,
        reviewed=reviewed.deletes if reviewed else None,
        reviewed_usage=reviewed.usage if reviewed else None,
        plan_sha256=reviewed.sha256 if reviewed else None,
    )
    with _stop_on_signals(stop):
        return execute(job_file, options)


def print_report(report: RunReport, *, output: str, show_plans: bool) -> None:
    if report.late_failure is not None:  # on stderr whatever the format, like every error
        notice(report.late_failure)
    if report.cancelled:
        print("cancelled: nothing deleted")
        return
    if output == "json":
        print(json.dumps(report_json(report), indent=2))
        return
    if output == "markdown":
        print(render_markdown(report))
        return
    for record in report.reconciled:
        print(
            f"reconciled: {record.ref.connection} {kind_prefix(record.ref)}{record.ref.id!r}"
            f" was {record.result}"
            " after an interrupted run"
        )
    for outcome in report.outcomes:
        if show_plans and outcome.plan is not None:
            print(render_plan(outcome.plan))
        print(render_outcome(outcome))


def output_format(args: argparse.Namespace) -> str:
    return "json" if args.json else str(getattr(args, "format", "text"))


def declared_metrics(jobs: Sequence[str]) -> "Metrics":
    # Imported only when asked for: prometheus_client adds about 15 ms to every start-up.
    from runner.metrics import Metrics

    metrics = Metrics()
    metrics.declare_jobs(jobs)
    return metrics


def run(args: argparse.Namespace) -> Any:
    metrics_file = Path(args.metrics_file) if args.metrics_file else None
    metrics = declared_metrics(args.job or []) if metrics_file else None
    report = execute_command(
        args,
        dry_run=args.dry_run,
        sinks=[metrics] if metrics else None,
        outputs=[(args.metrics_file, "--metrics-file")] if args.metrics_file else (),
    )
    if metrics is not None and metrics_file is not None:
        try:
            metrics.write_textfile(metrics_file)
        except StorageError as exc:
            if not report.sent.is_set():
                raise
            # Checked before the first request, yet failed since (a full disk): the deletes
            # happened and are in the audit, so this is exit 1 with the run still reported.
            report.late_failure = f"{exc}; the deletes were made and recorded in the audit"
    print_report(report, output=output_format(args), show_plans=args.dry_run)
    return report
