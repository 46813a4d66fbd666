"""What users read: plan tables, plan JSON, run summaries. Counts come from run.end."""

from collections import Counter
from typing import Any

from runner.clock import rfc3339
from runner.durations import format_age
from runner.engine import JobOutcome, RunReport
from runner.jobfile.model import Target
from runner.rules import Decision, JobPlan
from runner.tables import render

_ORDER = {"delete": 0, "keep": 1, "absent": 2, "skip": 3, "nomatch": 4}


def describe_target(target: Target) -> str:
    parts = []
    if target.ids:
        parts.append(f"ids ({len(target.ids)})")
    if target.status:
        parts.append(f"status {','.join(target.status)}")
    if target.name is not None:
        parts.append(f"name {target.name!r}")
    if target.older_than_text:
        parts.append(f"older_than {target.older_than_text}")
    if target.match_all:
        parts.append("match_all")
    if target.keep_latest:
        parts.append(f"keep_latest {target.keep_latest}")
    if target.protect:
        parts.append(f"protect ({len(target.protect)})")
    return f"{target.provider}: " + ", ".join(parts)


def _age(decision: Decision) -> str:
    if decision.age is None:
        return "-"
    return format_age(decision.age) + ("*" if decision.age_basis == "first seen" else "")


def _row(d: Decision) -> list[str]:
    return [d.model_id or "?", d.name or "-", d.status or "-", _age(d), d.action, d.reason]


def summary_counts(plan: JobPlan) -> Counter[str]:
    counts: Counter[str] = Counter(d.action for d in plan.decisions)
    counts["protected"] = sum(1 for d in plan.decisions if d.protected)
    return counts


def render_plan(plan: JobPlan) -> str:
    job = plan.job
    lines = [f"job {job.name}  (max_deletions {job.max_deletions})"]
    headers = ["ID", "NAME", "STATUS", "AGE", "DECISION", "REASON"]
    for index, target in enumerate(job.targets):
        rows = sorted(
            (d for d in plan.decisions if d.target == index),
            key=lambda d: (_ORDER[d.action], d.model_id),
        )
        lines.append(f"  target {index + 1}  {describe_target(target)}")
        if rows:
            lines.extend(
                "    " + line for line in render(headers, [_row(d) for d in rows]).splitlines()
            )
        else:
            lines.append("    (nothing selected)")
    skipped = [d for d in plan.decisions if d.action == "skip"]
    if skipped:
        lines.append("  skipped (never deleted)")
        lines.extend(
            "    " + line for line in render(headers, [_row(d) for d in skipped]).splitlines()
        )
    counts = summary_counts(plan)
    lines.append(
        f"  {counts['delete']} to delete, {counts['keep']} kept ({counts['protected']} protected),"
        f" {counts['absent']} already absent, {counts['skip']} skipped,"
        f" {counts['nomatch']} not matched by any rule"
    )
    if any(d.age_basis == "first seen" for d in plan.decisions):
        lines.append(
            "  * age counted from ftjanitor's first sighting"
            " (the provider reports no creation time)"
        )
    lines.extend(f"  note: {note}" for note in plan.notes)
    if plan.limit_message:
        lines.append(f"  LIMIT: {plan.limit_message}")
    return "\n".join(lines)


def decision_json(d: Decision) -> dict[str, Any]:
    return {
        "connection": d.connection,
        "id": d.model_id,
        "name": d.name,
        "status": d.status,
        "age_seconds": int(d.age.total_seconds()) if d.age is not None else None,
        "age_basis": d.age_basis,
        "decision": d.action,
        "reason": d.reason,
        "target": d.target,
        "protected": d.protected,
    }


def report_json(report: RunReport) -> dict[str, Any]:
    jobs = []
    for outcome in report.outcomes:
        plan = outcome.plan
        entry: dict[str, Any] = {"job": outcome.job, "run_id": outcome.run_id, "end": outcome.end}
        if plan is not None:
            entry["limit"] = plan.limit_message
            entry["notes"] = plan.notes
            entry["summary"] = dict(summary_counts(plan))
            entry["decisions"] = [decision_json(d) for d in plan.decisions]
        jobs.append(entry)
    return {"now": rfc3339(report.now), "reconciled": report.reconciled, "jobs": jobs}


def render_outcome(outcome: JobOutcome) -> str:
    end = outcome.end
    if end["status"] == "skipped":
        return f"job {outcome.job}: skipped - {end['message']}"
    verb = "would delete" if end["dry_run"] else "deleted"
    amount = end["planned"] if end["dry_run"] else end["deleted"]
    line = (
        f"job {outcome.job}: {verb} {amount}, already absent {end['already_absent']},"
        f" failed {end['failed']}, skipped {end['skipped']} - {end['status']}"
        f" (run {outcome.run_id[:12]})"
    )
    extra = [f"  failed: {p} {mid}: {error}" for p, mid, error in outcome.failures]
    if end.get("message"):
        extra.append(f"  {end['message']}")
    return "\n".join([line, *extra])
