"""``ftjanitor audit verify|show [AUDIT_LOG]``."""

import argparse
import json
from datetime import datetime
from pathlib import Path

from runner.audit import read_records, verify
from runner.clock import parse_instant
from runner.errors import EXIT_FAILED, EXIT_OK, CommandError
from runner.tables import render

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
    if event == "delete.planned":
        return str(record.get("reason"))
    if event == "delete.outcome":
        error = f" {record['error']}" if record.get("error") else ""
        result, status = record.get("result"), record.get("http_status")
        return f"{result} http={status} attempts={record.get('attempts')}{error}"
    if event == "delete.reconciled":
        return f"{record.get('result')} (intent seq {record.get('intent_seq')})"
    if event == "audit.recovered":
        return f"torn line of {record.get('torn_bytes')} bytes"
    return ""


def _since(record: dict[str, object], since: datetime | None) -> bool:
    if since is None:
        return True
    try:
        return parse_instant(str(record.get("ts"))) >= since
    except ValueError:
        return True  # an unreadable time is shown, never hidden: it may be evidence


def run(args: argparse.Namespace) -> int:
    path = Path(args.audit_log or DEFAULT_LOG)
    if not path.exists():
        raise CommandError(f"{path}: no such audit log")
    if args.action == "verify":
        verdict = verify(path)
        print(
            f"{path}: {verdict.message}"
            if verdict.ok
            else f"{path}: TAMPERED or damaged at seq {verdict.bad_seq}: {verdict.message}"
        )
        return EXIT_OK if verdict.ok else EXIT_FAILED
    records = [
        r
        for r in read_records(path)
        if (args.job is None or r.get("job") == args.job) and _since(r, args.since)
    ]
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return EXIT_OK
    rows = [
        [
            str(r.get("seq")),
            str(r.get("ts"))[:19] + "Z",
            str(r.get("event")),
            str(r.get("job") or "-"),
            str(r.get("provider") or "-"),
            str(r.get("model_id") or "-"),
            _detail(r),
        ]
        for r in records
    ]
    print(render(["SEQ", "TIME", "EVENT", "JOB", "PROVIDER", "MODEL", "DETAIL"], rows))
    return EXIT_OK
