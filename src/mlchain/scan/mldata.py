"""Model files that are data, not code: recognised so that they are not "unrecognised".

None of these formats has a code path in its loader: msgpack weights (Flax
``flax.serialization``: ext type 1 arrays decoded with ``np.frombuffer``; spaCy/srsly
msgpack-numpy maps, also ``np.frombuffer``, which refuses object dtypes), SentencePiece
``ModelProto`` protobufs, CatBoost ``.cbm`` (``CBM1`` + flatbuffers) and XGBoost UBJSON.
Recognition is structural, not by name alone: msgpack must parse as exactly one object spanning
the whole file, a SentencePiece model must be a protobuf of ``ModelProto`` fields whose first field
is a piece. A file that only *looks* like one of them stays unrecognised (and, if its name claims
a model, ``model-unsupported``).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from pathlib import Path

from mlchain.models import Finding
from mlchain.scan.base import Artifact, ScanContext

MAX_MSGPACK_OBJECTS = 5_000_000
MAX_MSGPACK_DEPTH = 256
MAX_SENTENCEPIECE_BYTES = 64 * 1024 * 1024


class _NotMsgpack(Exception):
    pass


def _msgpack_end(buf: bytes | mmap.mmap, pos: int, end: int, depth: int, budget: list[int]) -> int:
    """Position after the msgpack object at ``pos``; raises :class:`_NotMsgpack`."""
    if depth > MAX_MSGPACK_DEPTH or pos >= end:
        raise _NotMsgpack
    budget[0] -= 1
    if budget[0] < 0:
        raise _NotMsgpack
    b = buf[pos]
    pos += 1
    if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
        return pos
    if 0xA0 <= b <= 0xBF:
        return _skip(pos, b & 0x1F, end)
    if 0x80 <= b <= 0x9F:
        count = b & 0x0F
        items = count * 2 if b <= 0x8F else count
        for _ in range(items):
            pos = _msgpack_end(buf, pos, end, depth + 1, budget)
        return pos
    fixed = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4}
    fixed |= {0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
    if b in fixed:
        return _skip(pos, fixed[b], end)
    lengths = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if b in lengths:
        width = lengths[b]
        return _skip(pos + width, _uint(buf, pos, width, end), end)
    if b in (0xC7, 0xC8, 0xC9):  # ext 8/16/32: length, type byte, data
        width = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
        return _skip(pos + width + 1, _uint(buf, pos, width, end), end)
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        width = 2 if b in (0xDC, 0xDE) else 4
        count = _uint(buf, pos, width, end)
        pos += width
        items = count * 2 if b >= 0xDE else count
        if items > budget[0]:
            raise _NotMsgpack
        for _ in range(items):
            pos = _msgpack_end(buf, pos, end, depth + 1, budget)
        return pos
    raise _NotMsgpack  # 0xC1 is never used


def _uint(buf: bytes | mmap.mmap, pos: int, width: int, end: int) -> int:
    if pos + width > end:
        raise _NotMsgpack
    return int.from_bytes(buf[pos : pos + width], "big")


def _skip(pos: int, n: int, end: int) -> int:
    if pos + n > end:
        raise _NotMsgpack
    return pos + n


def is_msgpack(buf: bytes | mmap.mmap) -> bool:
    """Whether ``buf`` is exactly one msgpack map or array (weights files are)."""
    if not buf or not (0x80 <= buf[0] <= 0x9F or buf[0] in (0xDC, 0xDD, 0xDE, 0xDF)):
        return False
    try:
        return _msgpack_end(buf, 0, len(buf), 0, [MAX_MSGPACK_OBJECTS]) == len(buf)
    except (_NotMsgpack, RecursionError):
        return False


def is_sentencepiece(buf: bytes | mmap.mmap) -> bool:
    """Whether ``buf`` is a SentencePiece ``ModelProto`` (pieces, trainer/normalizer specs)."""
    from mlchain.scan.protowire import LEN, WireError, iter_fields

    if len(buf) > MAX_SENTENCEPIECE_BYTES or not buf or buf[0] != 0x0A:
        return False
    try:
        pieces = 0
        for f in iter_fields(buf, 0, len(buf)):
            if f.number not in (1, 2, 3, 4, 5) or f.wire_type != LEN:
                return False
            if f.number == 1:
                first = next(iter_fields(buf, f.start, f.end), None)
                if first is None or first.number != 1 or first.wire_type != LEN:
                    return False
                pieces += 1
        return pieces > 0
    except WireError:
        return False


def classify(path: Path, head: bytes, size: int) -> bool:
    """Whether the file is one of the recognised data formats."""
    name = path.name.lower()
    if head.startswith(b"CBM1"):
        return True
    if head[:1] == b"{" and head[1:2] in (b"L", b"l", b"i", b"U", b"I") and b"learner" in head[:64]:
        return True  # XGBoost UBJSON: {, a length marker, then the "learner" key
    if not head:
        return False
    first = head[0]
    msgpack_start = 0x80 <= first <= 0x9F or first in (0xDC, 0xDD, 0xDE, 0xDF)
    if not (msgpack_start or (first == 0x0A and name.endswith(".model"))):
        return False
    if size <= len(head):
        data: bytes | mmap.mmap = head
        return is_msgpack(data) if msgpack_start else is_sentencepiece(data)
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return is_msgpack(m) if msgpack_start else is_sentencepiece(m)
    except (OSError, ValueError, struct.error):
        return False


class MlDataScanner:
    """Recognised model data: there is nothing to execute, so nothing to report."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield nothing: detection already checked the structure."""
        del artifact, ctx
        return iter(())


__all__ = ["MlDataScanner", "classify", "is_msgpack", "is_sentencepiece"]
