"""``ftjanitor inventory JOBFILE``: what each connection can see."""

import argparse
import json
import os
from contextlib import ExitStack
from datetime import datetime

from runner.clock import rfc3339, system_clock
from runner.commands.common import load
from runner.commands.run import notice
from runner.connections import connections_used, open_listers
from runner.cost import json_amount, money
from runner.credentials import resolve_keys
from runner.errors import EXIT_OK, ConfigError
from runner.inventory import take_inventory
from runner.jobfile.model import Connection
from runner.providers import REGISTRY
from runner.providers.base import ConnectOptions, ModelRecord
from runner.ratelimit import Limiters
from runner.ref import DEFAULT_KIND
from runner.rules import age_of, age_text, priced
from runner.state.accounts import AccountKeyed
from runner.state.open import open_state
from runner.tables import render


def run(args: argparse.Namespace) -> int:
    job_file = load(args.jobfile)
    connections = connections_used(job_file)
    if args.provider:
        # A connection with regions: is named NAME/REGION; NAME alone means every region.
        connections = [
            c
            for c in job_file.connections.values()
            if args.provider in (c.name, c.name.rpartition("/")[0])
        ]
        if not connections:
            known = ", ".join(job_file.connections)
            raise ConfigError(f"no connection {args.provider!r} in {args.jobfile} ({known})")
    connections = _having(connections, args.kind)
    keys = resolve_keys(connections, os.environ)
    now = system_clock()
    report = []
    with ExitStack() as stack:
        store = open_state(job_file.state)
        stack.callback(store.close)
        state = AccountKeyed(store, job_file.connections.values())
        options = ConnectOptions(Limiters(), notice=notice)
        kinds = {c.name: [args.kind] for c in connections}
        listers = open_listers(connections, kinds, options, keys, stack)
        for connection in connections:
            lister = listers[connection.name, args.kind]
            spec = REGISTRY[connection.type].kinds[args.kind]
            # Priced as the planner prices them: the spec's price fact, the file's prices:.
            records = priced(
                take_inventory(lister, connection, state, now, False), spec, job_file.prices
            )
            if args.json:
                for r in records:
                    age, basis = age_of(r, now)
                    report.append(
                        {
                            "connection": connection.name,
                            "kind": args.kind,
                            "id": r.id,
                            "name": r.name,
                            "status": r.status,
                            "lifecycle": r.lifecycle,
                            "base_model": r.base_model,
                            "created_at": rfc3339(r.created_at) if r.created_at else None,
                            "first_seen": rfc3339(r.first_seen) if r.first_seen else None,
                            "last_used": rfc3339(r.last_used) if r.last_used else None,
                            "age_seconds": int(age.total_seconds()) if age is not None else None,
                            "age_basis": basis,
                            "problem": r.problem,
                            "serves": list(r.serves),
                            "committed_until": (
                                rfc3339(r.committed_until) if r.committed_until else None
                            ),
                            "monthly_cost": json_amount(r.monthly_cost),
                            "cost_basis": r.cost_basis,
                        }
                    )
                continue
            noun = "fine-tune" if args.kind == DEFAULT_KIND else args.kind
            what = noun if len(records) == 1 else f"{noun}s"
            print(f"{connection.label}: {len(records)} {what}")
            if spec.serves_models:  # what hosts what, and what that costs
                headers = ["ID", "NAME", "STATUS", "AGE", "SERVES", "COST/MONTH", "NOTE"]
                rows = [_hosting_row(r, now) for r in records]
            else:
                headers = ["ID", "NAME", "STATUS", "AGE", "NOTE"]
                rows = [
                    [r.id or "?", r.name or "-", r.status or "-", age_text(r, now), r.problem or ""]
                    for r in records
                ]
            print(render(headers, rows))
            print()
    if args.json:
        print(json.dumps(report, indent=2))
    return EXIT_OK


def _hosting_row(r: ModelRecord, now: datetime) -> list[str]:
    note = r.problem or ""
    if not note and r.committed_until is not None and r.committed_until > now:
        note = f"committed until {r.committed_until:%Y-%m-%d}"
    return [
        r.id or "?",
        r.name or "-",
        r.status or "-",
        age_text(r, now),
        ", ".join(r.serves) or "-",
        "?" if r.monthly_cost is None else money(r.monthly_cost),
        note,
    ]


def _having(connections: list[Connection], kind: str) -> list[Connection]:
    """The connections whose type has ``kind``; none is a mistake in the command line."""
    having = [c for c in connections if kind in REGISTRY[c.type].kinds]
    if connections and not having:
        lacking = sorted({c.type for c in connections})
        kinds = "; ".join(f"{t}: {REGISTRY[t].kind_names()}" for t in lacking)
        raise ConfigError(f"--kind {kind[:64]!r}: no connection's type has it ({kinds})")
    return having
