"""``ftjanitor audit verify|show|export [AUDIT_LOG] [--job-file JOBFILE]``."""

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from runner.audit import records_of
from runner.chain import Checked, Verdict, read_lines, verify_lines
from runner.clock import parse_instant
from runner.commands.common import load
from runner.errors import EXIT_FAILED, EXIT_OK, ConfigError
from runner.ref import ResourceRef, kind_prefix
from runner.storage import open_anchored
from runner.tables import render
from runner.text import json_text

DEFAULT_LOG = "audit/ftjanitor.jsonl"


def _detail(record: dict[str, object]) -> str:
    event = record.get("event")
    if event == "run.start":
        return f"trigger={record.get('trigger')} dry_run={record.get('dry_run')}"
    if event == "run.end":
        counts = " ".join(
            f"{k}={record.get(k)}"
            for k in ("planned", "deleted", "already_absent", "failed", "skipped")
        )
        return f"{record.get('status')} {counts}" + (
            f" ({record['message']})" if record.get("message") else ""
        )
    if event in (
        "delete.planned", "delete.absent", "delete.marked", "delete.unmarked", "delete.skipped"
    ):  # fmt: skip
        after = record.get("deletable_after")
        return str(record.get("reason")) + (f" (deletable after {after})" if after else "")
    if event == "delete.outcome":
        error = f" {record['error']}" if record.get("error") else ""
        result, status = record.get("result"), record.get("http_status")
        return f"{result} http={status} attempts={record.get('attempts')}{error}"
    if event == "delete.waiting":
        return f"accepted http={record.get('http_status')} within={record.get('within_seconds')}s"
    if event == "delete.reconciled":
        return f"{record.get('result')} (intent of run {str(record.get('intent_run_id'))[:12]})"
    if event in ("notify.sent", "notify.failed"):
        return f"{record.get('notifier')} {record.get('kind')} count={record.get('count')}"
    if event == "notify.unrouted":
        return f"{record.get('notifier')} no owner route for count={record.get('count')}"
    if event == "audit.recovered":
        return f"torn line of {record.get('torn_bytes')} bytes"
    return ""


def _item(record: dict[str, object]) -> str:
    """The MODEL cell: the item's ID, with its kind when it is not a model (a record
    of 0.2 has no kind: it is a model)."""
    if not record.get("model_id") or "provider" not in record:
        return "-"
    ref = ResourceRef.from_fields(record)
    return kind_prefix(ref) + ref.id


def _since(record: dict[str, object], since: datetime | None) -> bool:
    if since is None:
        return True
    try:
        return parse_instant(str(record.get("ts"))) >= since
    except ValueError:
        return True  # an unreadable time is shown, never hidden: it may be evidence


@contextmanager
def _chain_lines(args: argparse.Namespace) -> Iterator[tuple[str, Iterator[bytes], str | None]]:
    """(name, lines, head problem) of the log named directly or by a job file."""
    if args.job_file is None:
        path = Path(args.audit_log or DEFAULT_LOG)
        if not path.is_file():
            raise ConfigError(f"{path}: no such audit log")
        with open(path, "rb") as handle:
            yield str(path), read_lines(handle), None
        return
    if args.audit_log:
        raise ConfigError("audit: give AUDIT_LOG or --job-file, not both")
    job_file = load(args.job_file)
    with ExitStack() as stack:
        state, chain, problem = open_anchored(job_file, args.job_file, stack)
        anchor = state.audit_head(chain.name)
        if args.action == "verify" and getattr(args, "reanchor", False) and problem:
            if not verify_lines(chain.lines()).ok:
                raise ConfigError(f"{chain.name}: the chain itself is broken: not re-anchored")
            old = f"seq {anchor[0]} hash {anchor[1][:16]}" if anchor else "none"
            record = chain.append("audit.reanchored", None, {"previous_head": old}, sync=True)
            state.set_audit_head(chain.name, record["seq"], record["hash"])
            print(f"{chain.name}: re-anchored at seq {record['seq']} (was {old})")
            problem = None
        yield chain.name, chain.lines(), problem


def _export(name: str, lines: Iterator[bytes], head: str | None) -> int:
    """The chain's lines, verified as they go: an export is evidence, so it stops at the
    first damage rather than pass on what it cannot vouch for, and says so on stderr."""
    checked = Checked(lines)
    for line in checked:
        sys.stdout.buffer.write(line)
    sys.stdout.flush()
    return _vouched(name, checked.verdict, head, "exported")


def _vouched(name: str, verdict: Verdict, head: str | None, did: str) -> int:
    """After show or export: damage or truncation said on stderr (the output stays clean
    for a pipe), and exit 1; what was printed is only what came before it."""
    if not verdict.ok:
        print(
            f"{name}: TAMPERED or damaged at seq {verdict.bad_seq}: {verdict.message};"
            f" {did} only the {verdict.records} records before it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if head:
        print(f"{name}: TRUNCATED or replaced: {head}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    with _chain_lines(args) as (name, lines, head):
        if args.action == "verify":
            verdict = verify_lines(lines)
            if not verdict.ok:
                print(f"{name}: TAMPERED or damaged at seq {verdict.bad_seq}: {verdict.message}")
                return EXIT_FAILED
            if head:
                print(f"{name}: TRUNCATED or replaced: {head}")
                return EXIT_FAILED
            print(f"{name}: {verdict.message}")
            return EXIT_OK
        if args.action == "export":
            return _export(name, lines, head)
        checked = Checked(lines)
        records = [
            r
            for r in records_of(checked)
            if (args.job is None or r.get("job") == args.job) and _since(r, args.since)
        ]
        verdict = checked.verdict
    _show(records, args.json)
    # What is shown was checked as it was read: nothing after damage is shown as if true.
    return _vouched(name, verdict, head, "showed")


def _show(records: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        for record in records:
            print(json_text(record))
        return
    rows = [
        [
            str(r.get("seq")),
            str(r.get("ts"))[:19] + "Z",
            str(r.get("event")),
            str(r.get("job") or "-"),
            str(r.get("provider") or "-"),
            _item(r),
            _detail(r),
        ]
        for r in records
    ]
    print(render(["SEQ", "TIME", "EVENT", "JOB", "PROVIDER", "MODEL", "DETAIL"], rows))
