"""JSON Schemas, installed as the ``runner.schemas`` package so they ship in the wheel.

``job.schema.json`` is GENERATED from the provider registry by ``runner.jobfile.schema``:
regenerate it with ``python -m runner.jobfile.schema > schemas/job.schema.json`` (a test
fails when it is stale). The validator builds the same schema in memory.

``plan.schema.json`` is written by hand: ``runner.planfile`` reads it from this package and
checks every plan file against it. It is versioned by the plan's ``v``: a new version adds
a branch, and the branches of older versions stay, so their files still apply.
"""
