"""CQL type descriptors: the native type codes and names, and the types built of them (collections,
tuples, user types, vectors, custom marshal classes)."""

from __future__ import annotations

from dataclasses import dataclass


class TypeCode:
    CUSTOM = 0x0000
    ASCII = 0x0001
    BIGINT = 0x0002
    BLOB = 0x0003
    BOOLEAN = 0x0004
    COUNTER = 0x0005
    DECIMAL = 0x0006
    DOUBLE = 0x0007
    FLOAT = 0x0008
    INT = 0x0009
    TIMESTAMP = 0x000B
    UUID = 0x000C
    VARCHAR = 0x000D
    VARINT = 0x000E
    TIMEUUID = 0x000F
    INET = 0x0010
    DATE = 0x0011
    TIME = 0x0012
    SMALLINT = 0x0013
    TINYINT = 0x0014
    DURATION = 0x0015
    LIST = 0x0020
    MAP = 0x0021
    SET = 0x0022
    UDT = 0x0030
    TUPLE = 0x0031


NATIVE_NAMES: dict[int, str] = {
    TypeCode.ASCII: "ascii",
    TypeCode.BIGINT: "bigint",
    TypeCode.BLOB: "blob",
    TypeCode.BOOLEAN: "boolean",
    TypeCode.COUNTER: "counter",
    TypeCode.DECIMAL: "decimal",
    TypeCode.DOUBLE: "double",
    TypeCode.FLOAT: "float",
    TypeCode.INT: "int",
    TypeCode.TIMESTAMP: "timestamp",
    TypeCode.UUID: "uuid",
    TypeCode.VARCHAR: "text",
    TypeCode.VARINT: "varint",
    TypeCode.TIMEUUID: "timeuuid",
    TypeCode.INET: "inet",
    TypeCode.DATE: "date",
    TypeCode.TIME: "time",
    TypeCode.SMALLINT: "smallint",
    TypeCode.TINYINT: "tinyint",
    TypeCode.DURATION: "duration",
}


class CqlType:
    """Base of all type descriptors. Descriptors are immutable and hashable."""

    code: int

    def cql(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class NativeType(CqlType):
    code: int

    def cql(self) -> str:
        return NATIVE_NAMES[self.code]


@dataclass(frozen=True, slots=True)
class CustomType(CqlType):
    """A Java marshal class name. Vectors arrive this way: VectorType(<elem>, <dim>)."""

    class_name: str
    code: int = TypeCode.CUSTOM

    def cql(self) -> str:
        return f"'{self.class_name}'"


@dataclass(frozen=True, slots=True)
class ListType(CqlType):
    element: CqlType
    frozen: bool = False
    code: int = TypeCode.LIST

    def cql(self) -> str:
        s = f"list<{self.element.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class SetType(CqlType):
    element: CqlType
    frozen: bool = False
    code: int = TypeCode.SET

    def cql(self) -> str:
        s = f"set<{self.element.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class MapType(CqlType):
    key: CqlType
    value: CqlType
    frozen: bool = False
    code: int = TypeCode.MAP

    def cql(self) -> str:
        s = f"map<{self.key.cql()}, {self.value.cql()}>"
        return f"frozen<{s}>" if self.frozen else s


@dataclass(frozen=True, slots=True)
class TupleType(CqlType):
    elements: tuple[CqlType, ...]
    code: int = TypeCode.TUPLE

    def cql(self) -> str:
        return "frozen<tuple<" + ", ".join(e.cql() for e in self.elements) + ">>"


@dataclass(frozen=True, slots=True)
class UDTType(CqlType):
    keyspace: str
    name: str
    fields: tuple[tuple[str, CqlType], ...]
    frozen: bool = True
    code: int = TypeCode.UDT

    def cql(self) -> str:
        return f"frozen<{self.name}>" if self.frozen else self.name


@dataclass(frozen=True, slots=True)
class VectorType(CqlType):
    """vector<elem, n>: sent in metadata as a CustomType class name, modelled natively here."""

    element: CqlType
    dimension: int
    code: int = TypeCode.CUSTOM

    def cql(self) -> str:
        return f"vector<{self.element.cql()}, {self.dimension}>"


def native(code: int) -> NativeType:
    return _NATIVES[code]


_NATIVES = {c: NativeType(c) for c in NATIVE_NAMES}
TEXT = _NATIVES[TypeCode.VARCHAR]
ASCII = _NATIVES[TypeCode.ASCII]
INT = _NATIVES[TypeCode.INT]
BIGINT = _NATIVES[TypeCode.BIGINT]
UUID = _NATIVES[TypeCode.UUID]
INET = _NATIVES[TypeCode.INET]
BLOB = _NATIVES[TypeCode.BLOB]
BOOLEAN = _NATIVES[TypeCode.BOOLEAN]
TIMESTAMP = _NATIVES[TypeCode.TIMESTAMP]
