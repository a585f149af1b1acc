"""EVENT: server pushes for topology, status and schema changes (always on stream -1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from ..errors import ProtocolError
from ..opcodes import Opcode
from ..primitives import Inet, Reader, Writer
from .base import Message, response
from .result import SchemaChange

EVENT_STREAM = -1


class EventType:
    TOPOLOGY_CHANGE = "TOPOLOGY_CHANGE"
    STATUS_CHANGE = "STATUS_CHANGE"
    SCHEMA_CHANGE = "SCHEMA_CHANGE"


@response
@dataclass(slots=True)
class Event(Message):
    """`change` is NEW_NODE/REMOVED_NODE, UP/DOWN, or the schema change type; topology and status
    events carry `address`, schema events carry `schema` (whose change_type equals `change`)."""

    opcode: ClassVar[int] = Opcode.EVENT
    event_type: str
    change: str
    address: Inet | None = None
    schema: SchemaChange | None = None

    @classmethod
    def schema_change(cls, schema: SchemaChange) -> Event:
        return cls(EventType.SCHEMA_CHANGE, schema.change_type, schema=schema)

    def encode_body(self, w: Writer, version: int) -> None:
        w.string(self.event_type)
        if self.event_type == EventType.SCHEMA_CHANGE:
            if self.schema is None:
                raise ValueError("a SCHEMA_CHANGE event needs `schema`")
            if self.schema.change_type != self.change:
                raise ValueError("`change` differs from schema.change_type")
            self.schema.encode_fields(w)
        elif self.event_type in (EventType.TOPOLOGY_CHANGE, EventType.STATUS_CHANGE):
            if self.address is None:
                raise ValueError(f"a {self.event_type} event needs `address`")
            w.string(self.change).inet(self.address)
        else:
            raise ValueError(f"unknown event type {self.event_type!r}")

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        event_type = r.string()
        if event_type == EventType.SCHEMA_CHANGE:
            schema = SchemaChange.decode_fields(r)
            return cls(event_type, schema.change_type, schema=schema)
        if event_type in (EventType.TOPOLOGY_CHANGE, EventType.STATUS_CHANGE):
            change = r.string()
            return cls(event_type, change, address=r.inet())
        raise ProtocolError(f"unknown event type {event_type!r}")
