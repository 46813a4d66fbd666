"""What users read: plan tables, plan JSON, run summaries. All of it comes from the plan
and from the run's events, the same ones the audit log records."""

import dataclasses
import re
from collections import Counter
from typing import Any

from runner import events as ev
from runner.clock import rfc3339
from runner.cost import Savings, json_amount, money, savings
from runner.durations import format_age
from runner.engine import JobOutcome, RunReport
from runner.jobfile.model import Target
from runner.ref import DEFAULT_KIND, ResourceRef, kind_prefix
from runner.rules import LIMITED, Decision, JobPlan
from runner.tables import render
from runner.text import shown

_ORDER = {
    "delete": 0, "mark": 1, "pending": 2, "blocked": 3, "keep": 4, "absent": 5, "skip": 6,
    "nomatch": 7,
}  # fmt: skip
HEADERS = ["ID", "NAME", "STATUS", "AGE", "DECISION", "COST/MONTH", "REASON"]


def describe_target(target: Target) -> str:
    parts = []
    if target.ids:
        parts.append(f"ids ({len(target.ids)})")
    parts.extend(selector.describe() for selector in target.selectors)
    if target.match_all:
        parts.append("match_all")
    if target.keep_latest:
        parts.append(f"keep_latest {target.keep_latest}")
    if target.protect:
        parts.append(f"protect ({len(target.protect)})")
    if target.with_deployments:
        parts.append("with_deployments")
    kind = "" if target.kind == DEFAULT_KIND else f" {target.kind}s"
    return f"{target.connection}{kind}: " + ", ".join(parts)


def item(ref: ResourceRef) -> str:
    """One item in a line of text: its connection, its kind if not a model, its ID."""
    return f"{ref.connection} {kind_prefix(ref)}{shown(ref.id)}"


def age_cell(decision: Decision) -> str:
    if decision.age is None:
        return "-"
    return format_age(decision.age) + ("*" if decision.age_basis == "first seen" else "")


def cost_cell(decision: Decision) -> str:
    return "?" if decision.monthly_cost is None else money(decision.monthly_cost)


def _row(d: Decision) -> list[str]:
    return [
        kind_prefix(d.ref) + (d.ref.id or "?"),
        d.name or "-",
        d.status or "-",
        age_cell(d),
        d.action,
        cost_cell(d),
        d.reason,
    ]


def plan_savings(plan: JobPlan) -> Savings:
    """What the plan's deletes would save a month (a limit-blocked plan deletes nothing)."""
    return savings(d.monthly_cost for d in plan.deletes)


def summary_counts(plan: JobPlan) -> Counter[str]:
    counts: Counter[str] = Counter(d.action for d in plan.decisions)
    counts["protected"] = sum(1 for d in plan.decisions if d.protected)
    return counts


def summary_line(plan: JobPlan) -> str:
    c = summary_counts(plan)
    parts = [f"{c['delete']} to delete"]
    if plan.job.grace is not None:
        parts.append(f"{c['mark']} to mark, {c['pending']} pending")
    limited = sum(1 for d in plan.having("blocked") if d.reason.startswith(LIMITED))
    if limited:
        parts.append(f"{limited} {LIMITED}")
    if c["blocked"] > limited:  # a commitment, a deployment serving it: the reason says
        parts.append(f"{c['blocked'] - limited} blocked")
    parts += [
        f"{c['keep']} kept ({c['protected']} protected)",
        f"{c['absent']} already absent",
        f"{c['skip']} skipped",
        f"{c['nomatch']} not matched by any rule",
    ]
    line = ", ".join(parts)
    return f"{line}; {plan_savings(plan).text()}" if c["delete"] else line


def render_plan(plan: JobPlan) -> str:
    job = plan.job
    limits = f"max_deletions {job.max_deletions}"
    if job.max_deletions_percent is not None:
        limits += f", max_deletions_percent {job.max_deletions_percent}"
    if job.grace_text:
        limits += f", grace {job.grace_text}"
    lines = [f"job {job.name}  ({limits})"]
    for index, target in enumerate(job.targets):
        rows = sorted(
            (d for d in plan.decisions if d.target == index),
            key=lambda d: (_ORDER[d.action], d.ref.id, d.ref.kind),
        )
        lines.append(f"  target {index + 1}  {shown(describe_target(target))}")
        if rows:
            lines.extend(
                "    " + line for line in render(HEADERS, [_row(d) for d in rows]).splitlines()
            )
        else:
            lines.append("    (nothing selected)")
    skipped = plan.having("skip")
    if skipped:
        lines.append("  skipped (never deleted)")
        lines.extend(
            "    " + line for line in render(HEADERS, [_row(d) for d in skipped]).splitlines()
        )
    lines.append("  " + summary_line(plan))
    if any(d.age_basis == "first seen" for d in plan.decisions):
        lines.append(
            "  * age counted from ftjanitor's first sighting"
            " (the provider reports no creation time)"
        )
    lines.extend(f"  note: {shown(note)}" for note in plan.notes)
    if plan.limit_message:
        lines.append(f"  LIMIT: {plan.limit_message}")
    return "\n".join(lines)


def decision_json(d: Decision) -> dict[str, Any]:
    return {
        "connection": d.ref.connection,
        "kind": d.ref.kind,
        "id": d.ref.id,
        "name": d.name,
        "status": d.status,
        "age_seconds": int(d.age.total_seconds()) if d.age is not None else None,
        "age_basis": d.age_basis,
        "decision": d.action,
        "reason": d.reason,
        "target": d.target,
        "protected": d.protected,
        "deletable_after": rfc3339(d.deletable_after) if d.deletable_after else None,
        "monthly_cost": json_amount(d.monthly_cost),
        "cost_basis": d.cost_basis,
        # What must be deleted first (a served model's deployments, with_deployments).
        "after": [{"kind": r.kind, "id": r.id} for r in d.after],
        # An unused_for selection: the last use its source saw (as the audit records it).
        **(d.usage.fields() if d.usage is not None else {}),
    }


def savings_json(total: Savings) -> dict[str, Any]:
    """Dollars a month as a JSON number rounded to the cent, and the count left out."""
    return {
        "estimated_monthly_savings": json_amount(total.amount),
        "unknown_cost": total.unknown,
    }


def end_json(end: ev.RunEnded | ev.RunSkipped) -> dict[str, Any]:
    if isinstance(end, ev.RunSkipped):
        return {"job": end.job, "status": "skipped", "message": end.message}
    return {
        "job": end.job,
        "dry_run": end.dry_run,
        **dataclasses.asdict(end.counts),
        **savings_json(end.savings),
        "status": end.status,
        "message": end.message,
    }


def report_json(report: RunReport) -> dict[str, Any]:
    jobs = []
    planned: list[Savings] = []
    for outcome in report.outcomes:
        plan = outcome.plan
        entry: dict[str, Any] = {
            "job": outcome.job,
            "run_id": outcome.run_id,
            "end": end_json(outcome.end),
            "absent": [r.ref.id for r in outcome.absent],
            "unrouted": outcome.unrouted,
        }
        if plan is not None:
            entry["limit"] = plan.limit_message
            entry["notes"] = plan.notes
            entry["summary"] = dict(summary_counts(plan))
            planned.append(plan_savings(plan))
            entry.update(savings_json(planned[-1]))
            entry["decisions"] = [decision_json(d) for d in plan.decisions]
            entry["drift"] = [decision_json(d) for d in plan.drift]
        jobs.append(entry)
    body: dict[str, Any] = {
        "now": rfc3339(report.now),
        "reconciled": [reconciled_json(r) for r in report.reconciled],
        **savings_json(sum(planned, Savings())),
        "jobs": jobs,
    }
    if report.late_failure is not None:
        body["error"] = report.late_failure
    return body


def reconciled_json(r: ev.Reconciled) -> dict[str, Any]:
    return {
        "job": r.job,
        "connection": r.ref.connection,
        "kind": r.ref.kind,
        "model_id": r.ref.id,
        "intent_run_id": r.intent_run_id,
        "intent_seq": r.intent_seq,
        "result": r.result,
    }


def render_outcome(outcome: JobOutcome) -> str:
    end = outcome.end
    if isinstance(end, ev.RunSkipped):
        return f"job {outcome.job}: skipped - {end.message}"
    c = end.counts
    verb = "would delete" if end.dry_run else "deleted"
    amount = c.planned if end.dry_run else c.deleted
    line = (
        f"job {outcome.job}: {verb} {amount}, already absent {c.already_absent},"
        f" failed {c.failed}, skipped {c.skipped}"
    )
    if outcome.plan is not None and outcome.plan.job.grace is not None:
        line += f", marked {c.marked}, pending {c.pending}"
    if c.waiting:  # accepted, and the run stopped before a lookup proved them gone
        line += f", waiting {c.waiting}"
    line += f" - {end.status} (run {outcome.run_id[:12]})"
    extra = [f"  {end.savings.text()}"] if c.deleted and not end.dry_run else []
    extra += [f"  absent: {item(r.ref)} ({r.reason})" for r in outcome.absent]
    if outcome.plan is not None:
        extra += [f"  drift: {item(d.ref)}: {shown(d.reason)}" for d in outcome.plan.drift]
    extra += [f"  failed: {item(f.model.ref)}: {shown(f.error or '')}" for f in outcome.failures]
    if outcome.unrouted:
        extra.append(
            f"  notify: {outcome.unrouted} item(s) unrouted: their owner has no webhook in"
            ' by_owner and there is no "*"'
        )
    if end.message:
        extra.append(f"  {end.message}")
    return "\n".join([line, *extra])


FOLD_AFTER = 20  # rows; a longer table folds into <details> in a pull-request comment
MARKDOWN_HEADERS = ["ID", "NAME", "AGE", "DECISION", "REASON"]


def code_span(text: str) -> str:
    """Untrusted text (provider names, IDs, reasons quoting them) as a Markdown code span:
    GitHub renders no mention, autolink, emphasis or HTML inside one. The fence is one
    backtick longer than the longest run of backticks inside, with a space inside each end
    when the text starts or ends with a backtick or a space (CommonMark takes one off each
    side). Pipes are escaped even here, because GFM splits table cells before it reads
    code spans."""
    text = shown(text).replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(report: RunReport) -> str:
    """A plan that reads well as a pull-request comment: a summary per job, then a table
    per target with ID, name, age, decision and reason."""
    planned = sum((plan_savings(o.plan) for o in report.outcomes if o.plan), Savings())
    lines = [f"## ftjanitor plan ({rfc3339(report.now)}): {planned.text()}", ""]
    for outcome in report.outcomes:
        plan = outcome.plan
        if plan is None:
            end = end_json(outcome.end)
            lines += [f"- **{outcome.job}**: {end['status']} {end.get('message') or ''}", ""]
            continue
        lines.append(f"- **{outcome.job}**: {summary_line(plan)}")
        if plan.limit_message:
            lines.append(f"  - **limit**: {code_span(plan.limit_message)}")
    for outcome in report.outcomes:
        plan = outcome.plan
        if plan is None:
            continue
        lines += ["", f"### {outcome.job}"]
        for index, target in enumerate(plan.job.targets):
            rows = sorted(
                (d for d in plan.decisions if d.target == index),
                key=lambda d: (_ORDER[d.action], d.ref.id, d.ref.kind),
            )
            lines += ["", f"**target {index + 1}**: {code_span(describe_target(target))}", ""]
            table = ["| " + " | ".join(MARKDOWN_HEADERS) + " |", "|---|---|---|---|---|"]
            table += [
                "| "
                + " | ".join(
                    (
                        kind_prefix(d.ref) + (code_span(d.ref.id) if d.ref.id else "?"),
                        code_span(d.name) if d.name else "-",
                        age_cell(d),
                        d.action,
                        code_span(d.reason),
                    )
                )
                + " |"
                for d in rows
            ]
            if not rows:
                lines.append("_nothing selected_")
            elif len(rows) > FOLD_AFTER:
                lines += [
                    f"<details><summary>{len(rows)} models</summary>",
                    "",
                    *table,
                    "",
                    "</details>",
                ]
            else:
                lines += table
    return "\n".join(lines)
