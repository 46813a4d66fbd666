"""An ID listed twice: one model when both listings agree, an inconsistent listing (that
connection deletes nothing, exit 1) when they differ. End to end through the CLI against
the simulator's overlapping pages and repeated items, and as properties of the rules."""

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.cli import main
from runner.errors import ProviderError
from runner.inventory import distinct
from runner.jobfile.model import Job
from runner.providers.base import ModelRecord
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import BFL_KEY, COHERE_KEY, NOW, PROPERTY_TALLY, provider, seed_accounts
from tests.simjobs import MODEL, NOW_ARG, write_job
from tests.test_rules_properties import (
    PROPERTY,
    REMOVING,
    by_id,
    inventories,
    jobs,
    matches,
    newest_first,
    plan,
    protected,
    unlimited,
    usable,
)

# Oldest first, as Cohere lists them; Fireworks lists by ID, so "a-new" comes first.
THREE = [("a-new", 40), ("b-mid", 50), ("c-old", 60)]
KEEP_TWO = {"name": "exp-*", "older_than": "30d", "keep_latest": 2}


pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


def test_cohere_pages_that_overlap_list_a_model_once(tmp_path: Path) -> None:
    seed = {"cohere": [{"id": i, "name": f"exp-{i}", "age_days": d} for i, d in THREE]}
    overlap = Fault("overlap", method="GET", api="cohere")
    with Simulator(
        load_seed(seed, NOW), cohere_key=COHERE_KEY, max_page_size=2, faults=[overlap]
    ) as sim:
        listed = [r.id for r in provider(sim, "cohere").list_models()]
        assert listed == ["c-old", "b-mid", "b-mid", "a-new"]  # page 2 starts one early
        job = write_job(tmp_path, sim, {"keep": [{"provider": "cohere", **KEEP_TWO}]})
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
        assert sim.deleted == [("cohere", "c-old")]  # the two newest kept


def test_fireworks_page_that_repeats_a_model_lists_it_once(tmp_path: Path) -> None:
    seed = {"fireworks": [{"id": i, "displayName": f"exp-{i}", "age_days": d} for i, d in THREE]}
    repeat = Fault("duplicate", method="GET", api="fireworks")
    with Simulator(load_seed(seed, NOW), faults=[repeat]) as sim:
        fireworks = provider(
            sim, "fireworks", base_url=sim.base_url("fireworks"),
            options={"account_id": "sim-account"},
        )  # fmt: skip
        listed = [r.id for r in fireworks.list_models()]
        assert listed == ["a-new", "b-mid", "c-old", "a-new"]
        job = write_job(tmp_path, sim, {"keep": [{"provider": "fireworks", **KEEP_TWO}]})
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
        assert sim.deleted == [("fireworks", "c-old")]


@pytest.mark.parametrize(
    ("kind", "changes", "other"),
    [
        ("cohere", {"name": "impostor"}, "fireworks"),
        ("cohere", {"created_at": "2020-01-01T00:00:00Z"}, "bfl"),
        ("fireworks", {"displayName": "impostor"}, "cohere"),
    ],
)
def test_an_id_listed_twice_with_different_content_stops_that_connection(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    changes: dict[str, str],
    other: str,
) -> None:
    conflict = Fault("duplicate", method="GET", api=kind, changes=changes)
    with Simulator(
        seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY, faults=[conflict]
    ) as sim:
        job = write_job(
            tmp_path,
            sim,
            {
                "conflicted": [{"provider": kind, "match_all": True}],
                "elsewhere": [{"provider": other, "ids": [MODEL[other]]}],
            },
        )
        assert main(["plan", job, "--now", NOW_ARG]) == 1
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        assert sim.deleted == [(other, MODEL[other])]  # the other connection went on
    said = capsys.readouterr()
    lines = [
        line
        for line in (said.out + said.err).splitlines()
        if "is listed twice with different content" in line
    ]
    assert len(lines) == 2  # once per command, one line each
    assert "nothing is deleted on this connection" in lines[0] and "ID '" in lines[0]


# -- properties: duplicates never break keep_latest, protect or the limits -----------------

FIELDS = ["name", "created_at", "status"]


@st.composite
def listings(draw: st.DrawFn) -> tuple[list[ModelRecord], list[ModelRecord], str | None]:
    """(the models, a listing that repeats some of them in any order, the ID of a copy
    that says something else or None)."""
    records = draw(inventories())
    repeated = draw(st.lists(st.sampled_from(records), max_size=6)) if records else []
    listing = draw(st.permutations([*records, *repeated]))
    conflicted = None
    if repeated and draw(st.booleans()):
        original = draw(st.sampled_from(repeated))
        changed = draw(st.sampled_from(FIELDS))
        if changed == "name":
            copy = dataclasses.replace(original, name=f"{original.name}-impostor")
        elif changed == "created_at":
            copy = dataclasses.replace(original, created_at=NOW - timedelta(days=365))
        else:
            copy = dataclasses.replace(original, status="STATUS_PAUSED", lifecycle="ready")
        if copy != original:
            position = draw(st.integers(0, len(listing)))
            listing.insert(position, copy)
            conflicted = original.id
    return records, listing, conflicted


@PROPERTY
@given(job=jobs(), drawn=listings())
def test_a_listing_with_repeats_plans_as_its_models_do(
    job: Job, drawn: tuple[list[ModelRecord], list[ModelRecord], str | None]
) -> None:
    records, listing, conflicted = drawn
    if conflicted is not None:
        with pytest.raises(ProviderError, match="listed twice with different content") as caught:
            distinct(listing, "cohere")
        assert repr(conflicted) in str(caught.value)
        PROPERTY_TALLY["listings: conflicts refused"] += 1
        return
    models = distinct(listing, "cohere")
    assert sorted(models, key=lambda r: r.id) == sorted(records, key=lambda r: r.id)
    PROPERTY_TALLY["listings: repeats seen"] += len(listing) - len(records)
    repeated, alone = plan(job, models), plan(job, records)
    assert by_id(repeated) == by_id(alone)
    assert repeated.limit_message == alone.limit_message
    # And directly: what the README promises holds on the listing as it came.
    assert len(repeated.deletes) <= job.max_deletions
    if job.max_deletions_percent is not None and repeated.deletes:
        base = sum(1 for r in records if usable(r) and r.lifecycle != "deleted")
        assert len(repeated.deletes) * 100 <= job.max_deletions_percent * base
    decisions = by_id(plan(unlimited(job), models))
    for record in records:
        if protected(job, record):
            assert decisions[record.id].action not in REMOVING
    for index, target in enumerate(job.targets):
        if target.keep_latest and not target.ids:
            candidates = [r for r in records if matches(target, r) and not protected(job, r)]
            for record in newest_first(candidates)[: target.keep_latest]:
                d = decisions[record.id]
                assert not (d.action == "delete" and d.target == index), d
                PROPERTY_TALLY["listings: newest kept"] += 1
    PROPERTY_TALLY["listings: planned as their models"] += 1
