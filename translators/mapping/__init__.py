"""The mapping file: which CQL tables go to which DynamoDB tables, and how.

A mapping file is YAML (format version 1, reference in docs/mapping.md). It is read in two steps:

1. YAML text → plain Python values plus the line of every key and value (``_compose``);
2. plain values → the frozen model (``_Builder``), with every check.

Step 2 works on plain dicts, so schema import builds the same dicts and goes through the same
checks. Errors name the file, the line and the path of the offending key, e.g.
``mapping.yaml:14: tables[0].write_mode: 'qeued' is not one of sync, queued``.

Modules: `model` (the frozen dataclasses and constants), `names` (CQL identifiers, DynamoDB
names), `column_types` (the DynamoDB type of a column, CQL spelling of types), `key_rules` (the
key layout), `yaml_lines` (step 1), `build` (step 2, one table at a time), `cross_checks` (the
checks between tables), `load` (the entry points that read a mapping) and `dump` (back to YAML).
This package exports their public API.
"""

from __future__ import annotations

from .column_types import (
    allowed_attribute_types,
    default_attribute_type,
    scalar_key_type,
    type_to_cql,
    udts_used,
)
from .dump import dump_mapping, summarize
from .key_rules import KeyRuleError, derive_keys, describe_key
from .load import build_mapping, load_mapping, loads_mapping, mapping_from_dict, table_from_dict
from .model import (
    BUILTIN_DEFAULTS,
    PHASES,
    TOKEN_BUCKET,
    TOKEN_INDEX,
    TOKEN_KEY,
    AttributeSpec,
    IndexSpec,
    KeySpec,
    Mapping,
    MappingError,
    TableDefaults,
    TableMapping,
    TableSchema,
)
from .names import (
    check_dynamodb_name,
    default_dynamodb_table_name,
    parse_identifier,
    parse_table_name,
    quote_identifier,
)

__all__ = [
    "BUILTIN_DEFAULTS",
    "PHASES",
    "TOKEN_BUCKET",
    "TOKEN_INDEX",
    "TOKEN_KEY",
    "AttributeSpec",
    "IndexSpec",
    "KeyRuleError",
    "KeySpec",
    "Mapping",
    "MappingError",
    "TableDefaults",
    "TableMapping",
    "TableSchema",
    "allowed_attribute_types",
    "build_mapping",
    "check_dynamodb_name",
    "default_attribute_type",
    "default_dynamodb_table_name",
    "derive_keys",
    "describe_key",
    "dump_mapping",
    "load_mapping",
    "loads_mapping",
    "mapping_from_dict",
    "parse_identifier",
    "parse_table_name",
    "quote_identifier",
    "scalar_key_type",
    "summarize",
    "table_from_dict",
    "type_to_cql",
    "udts_used",
]

