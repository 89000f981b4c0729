"""Keras HDF5 saves (``.h5``/``.hdf5``): the model config in the root group's attributes.

``tf_keras.models.load_model("m.h5")`` and Keras 3's legacy loader rebuild the model from the
JSON in the root attribute ``model_config`` (and compile it from ``training_config``): the same
object graph as a ``.keras`` file's ``config.json``, with the same risks (Lambda layers carrying
marshalled bytecode, objects imported from arbitrary modules). Both are judged by
:func:`mlchain.scan.keras.walk_config`.

No HDF5 library is used: hostile HDF5 has crashed and hung libhdf5 many times (its CVE list is
long), and mlchain must not run it in-process. This module reads just the structures needed to
reach the root group's attributes, every read bounds-checked, every loop bounded:

* the superblock (versions 0-3, at offset 0 or a power of two from 512 on);
* the root object header (version 1, or version 2 ``OHDR``) and its continuation blocks;
* attribute messages (versions 1-3) whose datatype is a fixed-length or variable-length string
  and whose dataspace is scalar or one element;
* the global heap collection (``GCOL``) holding variable-length strings.

Anything else on the way (dense attribute storage, shared messages, unknown versions, addresses
outside the file, loops) is reported as ``model-unsupported`` (medium): the file fails the default
gate rather than passing unread. Files without a ``model_config`` attribute (weights-only saves,
``.weights.h5``, plain HDF5 data) carry no object graph and are inert.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, MiB, ScanContext, finding

SIGNATURE = b"\x89HDF\r\n\x1a\n"
CONFIG_ATTRIBUTES = ("model_config", "training_config")
"""Root attributes Keras deserializes objects from."""
MAX_MESSAGES = 4096
MAX_BLOCKS = 256
MAX_ATTRIBUTE_BYTES = 64 * MiB
_BUILTIN_REGISTERED = frozenset(
    f"Custom>{name}"
    for name in (
        "Adam",
        "AdamW",
        "SGD",
        "RMSprop",
        "Adagrad",
        "Adadelta",
        "Adamax",
        "Nadam",
        "Ftrl",
        "Lion",
        "Adafactor",
    )
)
"""tf_keras registers its own optimizers under the default ``Custom`` package."""
_MSG_ATTRIBUTE, _MSG_CONTINUATION, _MSG_ATTRIBUTE_INFO = 0x0C, 0x10, 0x15
_CLASS_STRING, _CLASS_VLEN = 3, 9


class Unreadable(Exception):
    """The file uses a structure the reader does not support, or is damaged."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One root attribute decoded as a string (``None`` when it is not a string)."""

    name: str
    value: bytes | None


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        self.base = 0
        self.o = 8  # size of offsets
        self.ln = 8  # size of lengths
        self.messages = 0

    def bytes_at(self, pos: int, n: int) -> bytes:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise Unreadable(f"read of {n} bytes at {pos} runs past the end of the file")
        return bytes(self.buf[pos : pos + n])

    def uint(self, pos: int, n: int) -> int:
        return int.from_bytes(self.bytes_at(pos, n), "little")

    def addr(self, pos: int) -> int:
        value = self.uint(pos, self.o)
        if value == (1 << (8 * self.o)) - 1:
            raise Unreadable("undefined address")
        return self.base + value

    # --- superblock --------------------------------------------------------------------------
    def root_header(self) -> int:
        at = self._find_signature()
        version = self.uint(at + 8, 1)
        if version in (0, 1):
            self.o, self.ln = self.uint(at + 13, 1), self.uint(at + 14, 1)
            self._check_sizes()
            pos = at + 24 + (4 if version == 1 else 0)
            self.base = self.uint(pos, self.o)
            entry = pos + 4 * self.o
            return self.addr(entry + self.o)
        if version in (2, 3):
            self.o, self.ln = self.uint(at + 9, 1), self.uint(at + 10, 1)
            self._check_sizes()
            pos = at + 12
            self.base = self.uint(pos, self.o)
            return self.addr(pos + 3 * self.o)
        raise Unreadable(f"superblock version {version}")

    def _find_signature(self) -> int:
        at = 0
        while at + 8 <= self.size:
            if self.bytes_at(at, 8) == SIGNATURE:
                return at
            at = 512 if at == 0 else at * 2
        raise Unreadable("no HDF5 superblock signature")

    def _check_sizes(self) -> None:
        if self.o not in (2, 4, 8) or self.ln not in (2, 4, 8):
            raise Unreadable(f"offset/length sizes {self.o}/{self.ln}")

    # --- object header -----------------------------------------------------------------------
    def messages_of(self, header: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(type, flags, data_pos, size)`` for every message of the object header."""
        seen: set[int] = set()
        if self.bytes_at(header, 4) == b"OHDR":
            version = self.uint(header + 4, 1)
            if version != 2:
                raise Unreadable(f"object header version {version}")
            flags = self.uint(header + 5, 1)
            pos = header + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
            width = 1 << (flags & 3)
            chunk = self.uint(pos, width)
            pos += width
            pending = [(pos, pos + chunk, 2, flags)]
        else:
            version = self.uint(header, 1)
            if version != 1:
                raise Unreadable(f"object header version {version}")
            size = self.uint(header + 8, 4)
            pending = [(header + 16, header + 16 + size, 1, 0)]
        while pending:
            start, end, version, flags = pending.pop()
            if start in seen or len(seen) >= MAX_BLOCKS:
                raise Unreadable("object header continuation loop or too many blocks")
            seen.add(start)
            if end > self.size:
                raise Unreadable("object header block runs past the end of the file")
            for kind, mflags, data, size in self._block(start, end, version, flags):
                if kind == _MSG_CONTINUATION:
                    target, length = self.addr(data), self.uint(data + self.o, self.ln)
                    if version == 2:
                        if self.bytes_at(target, 4) != b"OCHK":
                            raise Unreadable("continuation block without OCHK signature")
                        pending.append((target + 4, target + length - 4, 2, flags))
                    else:
                        pending.append((target, target + length, 1, 0))
                else:
                    yield kind, mflags, data, size

    def _block(
        self, start: int, end: int, version: int, flags: int
    ) -> Iterator[tuple[int, int, int, int]]:
        pos = start
        head = 8 if version == 1 else 4 + (2 if flags & 0x04 else 0)
        while pos + head <= end:
            self.messages += 1
            if self.messages > MAX_MESSAGES:
                raise Unreadable(f"more than {MAX_MESSAGES} header messages")
            if version == 1:
                kind, size, mflags = self.uint(pos, 2), self.uint(pos + 2, 2), self.uint(pos + 4, 1)
            else:
                kind, size, mflags = self.uint(pos, 1), self.uint(pos + 1, 2), self.uint(pos + 3, 1)
            data = pos + head
            if data + size > end:
                raise Unreadable("header message runs past its block")
            yield kind, mflags, data, size
            pos = data + size

    # --- attributes --------------------------------------------------------------------------
    def attribute(self, data: int, size: int, mflags: int) -> Attribute:
        if mflags & 0x02:
            raise Unreadable("shared attribute message")
        version = self.uint(data, 1)
        if version not in (1, 2, 3):
            raise Unreadable(f"attribute message version {version}")
        if version >= 2 and self.uint(data + 1, 1) & 0x03:
            raise Unreadable("attribute with a shared datatype or dataspace")
        name_size = self.uint(data + 2, 2)
        type_size = self.uint(data + 4, 2)
        space_size = self.uint(data + 6, 2)
        pos = data + 8 + (1 if version == 3 else 0)

        def pad(n: int) -> int:
            return (n + 7) & ~7 if version == 1 else n

        name = self.bytes_at(pos, name_size).split(b"\x00", 1)[0].decode("utf-8", "replace")
        dtype = pos + pad(name_size)
        space = dtype + pad(type_size)
        value = space + pad(space_size)
        if value > data + size:
            raise Unreadable(f"attribute {name!r} overruns its message")
        count = self._elements(space)
        if count != 1:
            return Attribute(name, None)
        return Attribute(name, self._string(dtype, value, data + size, name))

    def _elements(self, space: int) -> int:
        version, rank, flags = self.uint(space, 1), self.uint(space + 1, 1), self.uint(space + 2, 1)
        if version == 1:
            dims = space + 8
        elif version == 2:
            if self.uint(space + 3, 1) == 2:
                return 0  # null dataspace
            dims = space + 4
        else:
            raise Unreadable(f"dataspace version {version}")
        del flags
        count = 1
        for i in range(min(rank, 32)):
            count *= self.uint(dims + i * self.ln, self.ln)
        return count

    def _string(self, dtype: int, value: int, end: int, name: str) -> bytes | None:
        head = self.uint(dtype, 1)
        klass = head & 0x0F
        size = self.uint(dtype + 4, 4)
        if klass == _CLASS_STRING:
            if value + size > end:
                raise Unreadable(f"attribute {name!r} data overruns its message")
            return self.bytes_at(value, size).split(b"\x00", 1)[0]
        if klass == _CLASS_VLEN and self.uint(dtype + 1, 1) & 0x0F == 1:
            length = self.uint(value, 4)
            collection, index = self.addr(value + 4), self.uint(value + 4 + self.o, 4)
            return self._heap_object(collection, index, length)
        return None

    def _heap_object(self, collection: int, index: int, length: int) -> bytes:
        if self.bytes_at(collection, 4) != b"GCOL":
            raise Unreadable("variable-length string outside a global heap collection")
        total = self.uint(collection + 8, self.ln)
        pos, end = collection + 8 + self.ln, min(collection + total, self.size)
        while pos + 8 + self.ln <= end:
            obj_index = self.uint(pos, 2)
            obj_size = self.uint(pos + 8, self.ln)
            data = pos + 8 + self.ln
            if obj_index == 0:
                break
            if obj_index == index:
                if obj_size > MAX_ATTRIBUTE_BYTES or length > obj_size:
                    raise Unreadable(f"global heap object of {obj_size} bytes")
                return self.bytes_at(data, obj_size)[:length]
            pos = data + ((obj_size + 7) & ~7)
        raise Unreadable(f"global heap object {index} not found")

    def root_attributes(self) -> list[Attribute]:
        header = self.root_header()
        found: list[Attribute] = []
        for kind, mflags, data, size in self.messages_of(header):
            if kind == _MSG_ATTRIBUTE:
                found.append(self.attribute(data, size, mflags))
            elif kind == _MSG_ATTRIBUTE_INFO and self._has_dense_storage(data):
                raise Unreadable("root attributes in dense storage (fractal heap)")
        return found

    def _has_dense_storage(self, data: int) -> bool:
        flags = self.uint(data + 1, 1)
        heap = data + 2 + (2 if flags & 0x01 else 0)
        return self.uint(heap, self.o) != (1 << (8 * self.o)) - 1


def read_root_attributes(buf: mmap.mmap | bytes) -> list[Attribute]:
    """The root group's attributes.

    Raises:
        Unreadable: when the file uses a structure this reader does not support.
    """
    try:
        return _Reader(buf).root_attributes()
    except (struct.error, ValueError, OverflowError, MemoryError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc


class Hdf5Scanner:
    """Keras model configs in HDF5 root attributes, read without libhdf5."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield Keras config findings, or ``model-unsupported`` when the file cannot be read."""
        del ctx
        loc = artifact.location
        with (
            artifact.path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            try:
                attributes = read_root_attributes(buf)
            except Unreadable as exc:
                yield finding(
                    "model-unsupported",
                    "HDF5 file uses a structure mlchain's reader does not support, so a "
                    "Keras model config in it could not be checked",
                    loc,
                    evidence=str(exc),
                )
                return
        yield from judge_attributes(attributes, loc)


def judge_attributes(attributes: list[Attribute], location: Location) -> Iterator[Finding]:
    """Run the Keras config judgement over the config attributes."""
    from mlchain.scan.keras import walk_config
    from mlchain.scan.strict_json import JsonProblem, parse_strict

    # Every copy is judged: a repeated name must not let the scanner and libhdf5 pick different
    # ones.
    for attribute in attributes:
        name = attribute.name
        if name not in CONFIG_ATTRIBUTES:
            continue
        member = location.with_member(name)
        if attribute.value is None:
            yield finding(
                "model-unsupported",
                f"root attribute {name!r} is not a single string; Keras would still read it",
                member,
            )
            continue
        try:
            parsed = parse_strict(attribute.value, allow_constants=True)
        except JsonProblem as exc:
            yield finding(
                "parse-error",
                f"root attribute {name!r} is not strict JSON: {exc}",
                member,
                severity=Severity.HIGH,
            )
            continue
        yield from walk_config(parsed.value, member)
        yield from _custom_objects(parsed.value, member)


def _custom_objects(doc: object, location: Location) -> Iterator[Finding]:
    """Registered custom objects (``package>Class``): the loader needs their code from elsewhere."""
    stack: list[object] = [doc]
    names: list[str] = []
    seen = 0
    while stack and seen < 1_000_000:
        value = stack.pop()
        seen += 1
        if isinstance(value, dict):
            name = value.get("class_name")
            builtin = isinstance(name, str) and name in _BUILTIN_REGISTERED
            if isinstance(name, str) and ">" in name and not builtin and name not in names:
                names.append(name)
            stack.extend(v for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, (dict, list)))
    if names:
        yield finding(
            "keras-custom-object",
            f"model config names {len(names)} registered custom object(s); loading runs their "
            "code, which must come from the loading environment (check it is yours)",
            location,
            evidence=", ".join(names[:8]),
        )


__all__ = ["Attribute", "Hdf5Scanner", "Unreadable", "judge_attributes", "read_root_attributes"]
