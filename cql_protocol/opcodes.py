from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


REQUEST_OPCODES = frozenset(
    {
        Opcode.STARTUP,
        Opcode.AUTH_RESPONSE,
        Opcode.OPTIONS,
        Opcode.QUERY,
        Opcode.PREPARE,
        Opcode.EXECUTE,
        Opcode.REGISTER,
        Opcode.BATCH,
    }
)
RESPONSE_OPCODES = frozenset(
    {
        Opcode.ERROR,
        Opcode.READY,
        Opcode.AUTHENTICATE,
        Opcode.SUPPORTED,
        Opcode.RESULT,
        Opcode.EVENT,
        Opcode.AUTH_CHALLENGE,
        Opcode.AUTH_SUCCESS,
    }
)


class FrameFlag:
    COMPRESSED = 0x01
    TRACING = 0x02
    CUSTOM_PAYLOAD = 0x04
    WARNING = 0x08
    USE_BETA = 0x10
