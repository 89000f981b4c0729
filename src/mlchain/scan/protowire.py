"""A bounded reader for the protobuf wire format, over any indexable byte buffer.

ONNX files are protobuf messages that can be gigabytes long because weights are stored inline
(``TensorProto.raw_data``). Parsing them with the protobuf runtime would read the whole message
into memory. This module walks the wire format instead: it decodes field keys and varints and
hands back the *bounds* of length-delimited fields, so a caller descends only into the
sub-messages it cares about and never touches the bytes it skips. Over an ``mmap`` that means the
pages holding tensor data are never faulted in.

Every malformation (a varint longer than ten bytes, a length past the end of its enclosing
message, a group or reserved wire type, field number zero) raises :class:`WireError` with the
offset, which scanners turn into a ``parse-error`` finding.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import Union

VARINT = 0
FIXED64 = 1
LEN = 2
START_GROUP = 3
END_GROUP = 4
FIXED32 = 5

_MAX_VARINT_BYTES = 10


Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]  # noqa: UP007 - runtime alias on 3.10
"""Anything the walker can index: an ``mmap`` in production, ``bytes`` in tests."""


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


def read_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``pos``; return ``(value, next_pos)``.

    Raises:
        WireError: if the varint runs past ``end`` or is longer than ten bytes.
    """
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise WireError("truncated varint", start)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7
        if pos - start >= _MAX_VARINT_BYTES:
            raise WireError("varint longer than ten bytes", start)


def as_signed64(value: int) -> int:
    """Reinterpret an unsigned 64-bit varint as the two's-complement ``int64`` it encodes."""
    return value - (1 << 64) if value >= 1 << 63 else value


class Field:
    """One decoded field. For ``LEN`` fields, ``start``/``end`` bound the payload."""

    __slots__ = ("end", "number", "offset", "start", "value", "wire_type")

    def __init__(
        self, number: int, wire_type: int, offset: int, value: int, start: int, end: int
    ) -> None:
        self.number = number
        self.wire_type = wire_type
        self.offset = offset
        """Offset of the field's key."""
        self.value = value
        """Varint value, or the fixed-width value's offset for FIXED32/FIXED64."""
        self.start = start
        self.end = end


def iter_fields(buf: Buffer, start: int, end: int) -> Iterator[Field]:
    """Yield the fields of the message occupying ``buf[start:end]``, in order.

    Payloads of length-delimited fields are not read; they are returned as bounds.

    Raises:
        WireError: on any malformation, with the offset where it was found.
    """
    if end > len(buf) or start < 0 or start > end:
        raise WireError("message bounds outside the buffer", start)
    pos = start
    while pos < end:
        key_at = pos
        key = buf[pos]
        if key < 0x80:  # fast path: one-byte keys are nearly all of them
            pos += 1
        else:
            key, pos = read_varint(buf, pos, end)
        number = key >> 3
        wire_type = key & 7
        if number == 0 or number > 0x1FFF_FFFF:
            raise WireError(f"invalid field number {number}", key_at)
        if wire_type == VARINT:
            if pos < end and buf[pos] < 0x80:
                value = buf[pos]
                pos += 1
            else:
                value, pos = read_varint(buf, pos, end)
            yield Field(number, wire_type, key_at, value, pos, pos)
        elif wire_type == LEN:
            if pos < end and buf[pos] < 0x80:
                length = buf[pos]
                pos += 1
            else:
                length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise WireError(f"length {length} of field {number} runs past its message", key_at)
            yield Field(number, wire_type, key_at, length, pos, pos + length)
            pos += length
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64", key_at)
            yield Field(number, wire_type, key_at, pos, pos, pos + 8)
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32", key_at)
            yield Field(number, wire_type, key_at, pos, pos, pos + 4)
            pos += 4
        else:
            # Groups (3, 4) are deprecated and never used by ONNX; 6 and 7 are reserved.
            raise WireError(f"unsupported wire type {wire_type} for field {number}", key_at)


def read_bytes(buf: Buffer, field: Field, limit: int) -> tuple[bytes, bool]:
    """Copy at most ``limit`` bytes of a ``LEN`` field's payload; return ``(data, truncated)``."""
    stop = min(field.end, field.start + limit)
    data = bytes(buf[field.start : stop])
    return data, stop < field.end


def read_str(buf: Buffer, field: Field, limit: int = 4096) -> str:
    """Decode a ``LEN`` field as UTF-8 (invalid bytes escaped), at most ``limit`` bytes."""
    data, truncated = read_bytes(buf, field, limit)
    text = data.decode("utf-8", errors="backslashreplace")
    return text + "…" if truncated else text


__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "VARINT",
    "Field",
    "WireError",
    "as_signed64",
    "iter_fields",
    "read_bytes",
    "read_str",
    "read_varint",
]
