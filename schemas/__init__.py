"""Job-file JSON Schema; installed as the ``runner.schemas`` package so it ships in the wheel."""
