"""CQL data types: descriptors, their [option] encoding in result metadata, and value codecs.

descriptors: the type codes and descriptors; options: type [option]s in metadata; scalars: the
codecs of native types; codec: serialize/deserialize, and the codecs of collections, tuples, user
types and vectors. The names below are what the rest of the code imports from here.
"""

from __future__ import annotations

from .codec import deserialize, encoder_for, serialize, value_length_if_fixed
from .descriptors import (
    ASCII,
    BIGINT,
    BLOB,
    BOOLEAN,
    INET,
    INT,
    NATIVE_NAMES,
    TEXT,
    TIMESTAMP,
    UUID,
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
    native,
)
from .options import read_option, write_option
from .scalars import Duration

__all__ = [
    "ASCII",
    "BIGINT",
    "BLOB",
    "BOOLEAN",
    "INET",
    "INT",
    "NATIVE_NAMES",
    "TEXT",
    "TIMESTAMP",
    "UUID",
    "CqlType",
    "CustomType",
    "Duration",
    "ListType",
    "MapType",
    "NativeType",
    "SetType",
    "TupleType",
    "TypeCode",
    "UDTType",
    "VectorType",
    "deserialize",
    "encoder_for",
    "native",
    "read_option",
    "serialize",
    "value_length_if_fixed",
    "write_option",
]
