"""Job-file JSON Schema, installed as the ``runner.schemas`` package so it ships in the wheel.

``job.schema.json`` is GENERATED from the provider registry by ``runner.jobfile.schema``:
regenerate it with ``python -m runner.jobfile.schema > schemas/job.schema.json`` (a test
fails when it is stale). The validator builds the same schema in memory.
"""
