"""CQL <-> DynamoDB translation, pure: the mapping (mapping/), statements to writes (statements/),
selects to read plans (reads/), values and keys, the row model and its merge, convergence. No I/O
here: the command line, table provisioning and schema reading live in proxy/."""
