"""What people read: text escaping (runner.text), tables (runner.tables), plan tables,
summary lines and run outcomes (runner.report). Pure: built from plans and events, no
HTTP. Hostile provider strings through the real CLI are in test_safety_holes (item 9)."""

from datetime import UTC, datetime, timedelta

import pytest

from runner import events as ev
from runner.engine import JobOutcome
from runner.jobfile.model import Job, Target
from runner.ref import ResourceRef
from runner.report import (
    describe_target,
    render_outcome,
    render_plan,
    summary_line,
)
from runner.rules import Decision, JobPlan
from runner.tables import render
from runner.text import shown

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain name-1.2", "plain name-1.2"),
        ("naïve ünïcode", "naïve ünïcode"),  # printable: shown as it is
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x00\x07\x1b[31m\x7f", "\\x00\\x07\\x1b[31m\\x7f"),
        ("\x85 next line", "\\x85 next line"),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("\U000e0041 tag", "\\U000e0041 tag"),
    ],
)
def test_shown_escapes_everything_a_terminal_would_act_on(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped
    assert shown(escaped) == escaped  # an escaped text is stable: nothing to add


def test_tables_align_escape_and_never_grow_a_row() -> None:
    text = render(["ID", "NAME"], [["m-1", "ok"], ["m-2", "evil\nm-9  forged"], ["m-3", ""]])
    assert text.splitlines() == [
        "ID   NAME",
        "m-1  ok",
        "m-2  evil\\nm-9  forged",
        "m-3",  # trailing spaces trimmed
    ]


def decision(
    model_id: str,
    action: str,
    target: int | None = 0,
    *,
    name: str | None = None,
    reason: str = "r",
    days: float | None = 40,
    basis: str = "created",
    protected: bool = False,
) -> Decision:
    age = None if days is None else timedelta(days=days)
    return Decision(
        ResourceRef.on("cohere", model_id),
        name,
        "STATUS_READY",
        age,
        basis,
        action,
        reason,
        target,
        protected,  # type: ignore[arg-type]
    )


def job(**kw: object) -> Job:
    target = Target("cohere", name="exp-*", older_than=timedelta(days=30), older_than_text="30d")
    return Job("sweep", (target,), **kw)  # type: ignore[arg-type]


def test_summary_line_counts_every_action() -> None:
    plan = JobPlan(
        job(),
        [
            decision("a", "delete"),
            decision("b", "keep", protected=True, reason="protected"),
            decision("c", "keep"),
            decision("d", "absent"),
            decision("e", "skip", None),
            decision("f", "nomatch", None),
            decision("g", "nomatch", None),
        ],
    )
    assert summary_line(plan) == (
        "1 to delete, 2 kept (1 protected), 1 already absent, 1 skipped, 2 not matched by any"
        " rule; saves about $0.00/month (1 with unknown cost)"
    )
    limited = [decision(i, "blocked", reason="blocked by the limit (x)") for i in "ab"]
    blocked = JobPlan(job(), limited)
    assert summary_line(blocked).startswith("0 to delete, 2 blocked by the limit, 0 kept")
    # Blocked for its own reason (a commitment): not the limit's doing.
    committed = JobPlan(job(), [*limited, decision("c", "blocked", reason="committed until X")])
    assert summary_line(committed).startswith("0 to delete, 2 blocked by the limit, 1 blocked,")
    graced = JobPlan(
        job(grace=timedelta(days=7), grace_text="7d"),
        [decision("a", "mark"), decision("b", "pending"), decision("c", "pending")],
    )
    assert summary_line(graced).startswith("0 to delete, 1 to mark, 2 pending, 0 kept")


def test_plan_table_names_the_limit_notes_and_first_sightings() -> None:
    plan = JobPlan(
        job(max_deletions=1),
        [
            decision("m-1", "blocked", name="exp-a", reason="blocked by the limit (x)"),
            decision(
                "m-2",
                "blocked",
                name="exp-\u202eb",
                days=2,
                basis="first seen",
                reason="blocked by the limit (y)",
            ),
        ],
        limit_message="job 'sweep' would delete 2 models, over its max_deletions of 1",
        notes=["cohere: a note\nwith a forged line"],
    )
    lines = render_plan(plan).splitlines()
    assert lines[0] == "job sweep  (max_deletions 1)"
    assert lines[1] == "  target 1  cohere: name 'exp-*', older_than 30d"
    assert lines[2].split() == ["ID", "NAME", "STATUS", "AGE", "DECISION", "COST/MONTH", "REASON"]
    assert lines[3].split()[:5] == ["m-1", "exp-a", "STATUS_READY", "40d", "blocked"]
    assert lines[4].split()[:5] == ["m-2", "exp-\\u202eb", "STATUS_READY", "2d*", "blocked"]
    assert lines[5] == (
        "  0 to delete, 2 blocked by the limit, 0 kept (0 protected), 0 already absent,"
        " 0 skipped, 0 not matched by any rule"
    )
    assert lines[6].startswith("  * age counted from ftjanitor's first sighting")
    assert lines[7] == "  note: cohere: a note\\nwith a forged line"
    assert lines[8] == ("  LIMIT: job 'sweep' would delete 2 models, over its max_deletions of 1")
    assert len(lines) == 9


def test_an_empty_target_says_so() -> None:
    assert "    (nothing selected)" in render_plan(JobPlan(job(), [])).splitlines()


def test_describe_target_lists_every_rule() -> None:
    target = Target(
        "cohere",
        ids=("a", "b"),
        status=("STATUS_FAILED",),
        name="exp-*",
        base_model="command-*",
        older_than=timedelta(days=30),
        older_than_text="30d",
        unused_for=timedelta(days=7),
        unused_for_text="7d",
        keep_latest=2,
        protect=("p",),
    )
    assert describe_target(target) == (
        "cohere: ids (2), status STATUS_FAILED, name 'exp-*', base_model 'command-*',"
        " older_than 30d, unused_for 7d, keep_latest 2, protect (1)"
    )
    assert describe_target(Target("cohere", match_all=True)) == "cohere: match_all"
    assert describe_target(Target("aws", kind="deployment", match_all=True)) == (
        "aws deployments: match_all"
    )


def outcome(dry_run: bool, status: str, **extra: object) -> JobOutcome:
    counts = ev.Counts(planned=3, deleted=0 if dry_run else 2, failed=1, already_absent=1)
    end = ev.RunEnded("sweep", "0123456789abcdef", dry_run, status, counts, None)
    return JobOutcome("sweep", "0123456789abcdef", None, end, **extra)  # type: ignore[arg-type]


def test_outcome_lines_for_plan_and_run_with_escaped_provider_text() -> None:
    assert render_outcome(outcome(True, "ok")) == (
        "job sweep: would delete 3, already absent 1, failed 1, skipped 0 - ok (run 0123456789ab)"
    )
    failed = ev.Outcome(
        "sweep",
        "r",
        ev.ModelRef(ResourceRef.on("cohere", "m-1")),
        "failed",
        400,
        1,
        "bad\u2028request\x1b[2J",
    )
    absent = ev.ModelRef(
        ResourceRef.on("bfl", "gone\nx"), reason="listed by ID, not found at provider"
    )
    lines = render_outcome(outcome(False, "partial", failures=[failed], absent=[absent]))
    assert lines.splitlines() == [
        "job sweep: deleted 2, already absent 1, failed 1, skipped 0 - partial (run 0123456789ab)",
        "  saves about $0.00/month",
        "  absent: bfl gone\\nx (listed by ID, not found at provider)",
        "  failed: cohere m-1: bad\\u2028request\\x1b[2J",
    ]
    skipped = JobOutcome("sweep", "", None, ev.RunSkipped("sweep", "manual", "already running"))
    assert render_outcome(skipped) == "job sweep: skipped - already running"
