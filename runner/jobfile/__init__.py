"""Job files: load YAML with positions, validate against the schema and semantics."""
