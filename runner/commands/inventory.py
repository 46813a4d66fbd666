"""``ftjanitor inventory JOBFILE``: what each connection can see."""

import argparse
import json

from runner.clock import rfc3339, system_clock
from runner.commands.common import load
from runner.connections import connections_used, open_providers
from runner.errors import EXIT_OK, CommandError
from runner.inventory import take_inventory
from runner.rules import age_of, age_text
from runner.state import State
from runner.tables import render


def run(args: argparse.Namespace) -> int:
    job_file = load(args.jobfile)
    connections = connections_used(job_file)
    if args.provider:
        connections = [c for c in job_file.connections.values() if c.name == args.provider]
        if not connections:
            known = ", ".join(job_file.connections)
            raise CommandError(f"no connection {args.provider!r} in {args.jobfile} ({known})")
    providers, _keys = open_providers(connections)
    state = State(job_file.state)
    now = system_clock()
    report = []
    try:
        for connection in connections:
            records = take_inventory(providers[connection.name], connection, state, now, False)
            if args.json:
                for r in records:
                    age, basis = age_of(r, now)
                    report.append(
                        {
                            "connection": connection.name,
                            "id": r.id,
                            "name": r.name,
                            "status": r.status,
                            "created_at": rfc3339(r.created_at) if r.created_at else None,
                            "first_seen": rfc3339(r.first_seen) if r.first_seen else None,
                            "last_used": rfc3339(r.last_used) if r.last_used else None,
                            "age_seconds": int(age.total_seconds()) if age is not None else None,
                            "age_basis": basis,
                            "problem": r.problem,
                        }
                    )
                continue
            print(f"{connection.name} ({connection.base_url}): {len(records)} fine-tunes")
            rows = [
                [r.id or "?", r.name or "-", r.status or "-", age_text(r, now), r.problem or ""]
                for r in records
            ]
            print(render(["ID", "NAME", "STATUS", "AGE", "NOTE"], rows))
            print()
    finally:
        state.close()
        for provider in providers.values():
            provider.close()
    if args.json:
        print(json.dumps(report, indent=2))
    return EXIT_OK
