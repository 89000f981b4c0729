"""GGUF files: a bounded reader for the header, metadata and tensor infos, never the tensors.

GGUF (llama.cpp's format) is ``GGUF``, a version, a tensor count and a key-value count (64-bit in
versions 2 and 3), the key-value metadata, one info record per tensor (name, dimensions, ggml
type, offset), padding to ``general.alignment``, then tensor data. Every count and length is
attacker-controlled, and loaders that trusted them have had heap overflows and unbounded
allocations: the GGUF parsing CVEs of 2024 (CVE-2024-21802, -21825, -21836, -23496, -23605, -25664,
-25665, -25666: lengths and counts multiplied without overflow checks), string and array lengths
resized before reading (llama.cpp #19003), nested-array recursion in gguf-py, and tensor sizes that
overflow 64 bits so a tiny allocation backs a huge logical tensor (CVE-2026-33298).

This reader checks each count and length against the bytes left in the file *before* using it,
keeps nothing it does not need (arrays are skipped, not materialised), and reads through a small
window: a file declaring 2**62 tensors is a finding after 24 bytes, and a 1 GiB model costs a read
of its metadata only. Chat templates found in the metadata (``tokenizer.chat_template``, every
``tokenizer.chat_template.<name>`` and the ``tokenizer.chat_templates`` list) are analysed by
:mod:`mlchain.scan.chat_template`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, Limits, ScanContext, ScanOptions, finding

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = frozenset({2, 3})
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
MAX_NAME_BYTES = 63
"""``GGML_MAX_NAME`` is 64 including the terminating NUL."""
MAX_KEY_BYTES = 65_535
MAX_NESTING = 4
MAX_KEPT_STRING = 4096
"""Longest ordinary metadata string kept for :func:`read_gguf_metadata` (longer ones are cut)."""
MAX_KEPT_OTHER = 256
"""Other metadata strings are kept only this long (enough to identify them)."""
MAX_KEPT_KEYS = 4096
"""Non-``general.*`` keys beyond this many are parsed and checked but not kept."""
MAX_TEMPLATE_BYTES = 1_000_000
MAX_TEMPLATES = 64
"""Chat templates analysed per file; more are reported, not silently dropped."""
_CHUNK = 1 << 18
_INT64_MAX = 2**63 - 1

T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(8, 13)

_SCALARS: dict[int, struct.Struct] = {
    T_UINT8: struct.Struct("<B"),
    T_INT8: struct.Struct("<b"),
    T_UINT16: struct.Struct("<H"),
    T_INT16: struct.Struct("<h"),
    T_UINT32: struct.Struct("<I"),
    T_INT32: struct.Struct("<i"),
    T_FLOAT32: struct.Struct("<f"),
    T_BOOL: struct.Struct("<B"),
    T_UINT64: struct.Struct("<Q"),
    T_INT64: struct.Struct("<q"),
    T_FLOAT64: struct.Struct("<d"),
}
_TYPE_NAMES = {
    T_UINT8: "uint8",
    T_INT8: "int8",
    T_UINT16: "uint16",
    T_INT16: "int16",
    T_UINT32: "uint32",
    T_INT32: "int32",
    T_FLOAT32: "float32",
    T_BOOL: "bool",
    T_STRING: "string",
    T_ARRAY: "array",
    T_UINT64: "uint64",
    T_INT64: "int64",
    T_FLOAT64: "float64",
}

GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}
"""ggml tensor types current loaders accept: id -> (name, elements per block, bytes per block).

Ids 4, 5 (Q4_2, Q4_3) and 31-33, 36-38 (repacked ARM variants) were removed from ggml; files
using them no longer load and are reported as unknown types.
"""

FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
"""``general.file_type`` values (llama.cpp's ``llama_ftype``) -> quantisation label."""

EXPECTED_ARRAY_TYPES: dict[str, int] = {
    "tokenizer.ggml.tokens": T_STRING,
    "tokenizer.ggml.merges": T_STRING,
    "tokenizer.ggml.scores": T_FLOAT32,
    "tokenizer.ggml.token_type": T_INT32,
}
"""Element types loaders assume for tokenizer arrays; a narrower type is read out of bounds."""

# Minimum encoded sizes, used to bound counts by the bytes left before anything is read.
_MIN_KV = 8 + 4 + 1
_MIN_TENSOR_INFO = 8 + 4 + 4 + 8
_MIN_ELEMENT = {T_STRING: 8, T_ARRAY: 12} | {t: s.size for t, s in _SCALARS.items()}

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _Stop(Exception):
    """Parsing cannot continue; ``finding`` says why."""

    def __init__(self, found: Finding) -> None:
        super().__init__(found.message)
        self.finding = found


@dataclass(slots=True)
class GgufInfo:
    """What the reader learned about one GGUF file."""

    version: int | None = None
    tensor_count: int | None = None
    kv_count: int | None = None
    alignment: int = DEFAULT_ALIGNMENT
    alignment_type: str | None = None
    """GGUF value type ``general.alignment`` was stored with (loaders require uint32)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Scalar values, and strings up to :data:`MAX_KEPT_STRING` characters (cut beyond)."""
    templates: dict[str, str] = field(default_factory=dict)
    """Chat templates by metadata key (``tokenizer.chat_templates[i]`` for list entries)."""
    tensor_types: dict[str, int] = field(default_factory=dict)
    parameter_count: int = 0
    findings: list[Finding] = field(default_factory=list)
    bytes_read: int = 0
    """Bytes actually read from the file (headers only; the tests assert it stays small)."""


class _Reader:
    """Bounds-checked little-endian reads through a 256 KiB window over a file."""

    def __init__(self, handle: BinaryIO, size: int, budget: int, loc: Location) -> None:
        self.handle = handle
        self.size = size
        self.budget = budget
        self.loc = loc
        self.pos = 0
        self.buf = b""
        self.buf_start = 0
        self.bytes_read = 0

    def remaining(self) -> int:
        return self.size - self.pos

    def _need(self, n: int, what: str) -> None:
        end = self.pos + n
        if end > self.size:
            raise _Stop(
                finding(
                    "gguf-invalid-header",
                    f"{what} needs {n} bytes but only {self.size - self.pos} remain in the file",
                    self.loc.at(self.pos),
                )
            )
        if end > self.budget:
            raise _Stop(
                finding(
                    "scan-limit-exceeded",
                    f"GGUF metadata runs past the header limit of {self.budget} bytes",
                    self.loc.at(self.pos),
                )
            )

    def _window(self, n: int, what: str) -> int:
        """Make ``[pos, pos+n)`` available in ``buf``; return its index into ``buf``."""
        self._need(n, what)
        start = self.pos - self.buf_start
        if start >= 0 and start + n <= len(self.buf):
            return start
        self.handle.seek(self.pos)
        data = self.handle.read(min(max(n, _CHUNK), self.size - self.pos))
        self.bytes_read += len(data)
        if len(data) < n:
            raise _Stop(
                finding(
                    "file-unreadable",
                    "the file ended early (it changed while being read?)",
                    self.loc.at(self.pos),
                )
            )
        self.buf = data
        self.buf_start = self.pos
        return 0

    def unpack(self, fmt: struct.Struct, what: str) -> Any:
        index = self._window(fmt.size, what)
        self.pos += fmt.size
        return fmt.unpack_from(self.buf, index)[0]

    def take(self, n: int, what: str) -> bytes:
        index = self._window(n, what)
        self.pos += n
        return self.buf[index : index + n]

    def skip(self, n: int, what: str) -> None:
        self._need(n, what)
        self.pos += n

    def skip_strings(self, count: int, ctx: ScanContext) -> None:
        """Skip ``count`` length-prefixed strings (vocabularies hold 10**5 of them).

        The hot loop walks the lengths inside the current window without creating any string.
        """
        unpack = _U64.unpack_from
        done = 0
        while done < count:
            self._window(8, "string length")
            buf, base, pos = self.buf, self.buf_start, self.pos
            limit = len(buf) - 8
            while done < count and pos - base <= limit:
                (length,) = unpack(buf, pos - base)
                if length > self.size - pos - 8:
                    self.pos = pos + 8
                    raise _Stop(self.oversized("string", length))
                pos += 8 + length
                done += 1
            self.pos = pos
            if pos > self.budget:
                self._need(0, "string array")
            if ctx.out_of_time():
                raise _Stop(
                    finding("scan-limit-exceeded", "time limit reached in GGUF metadata", self.loc)
                )

    def oversized(self, what: str, length: int) -> Finding:
        return finding(
            "gguf-invalid-header",
            f"{what} length {length} exceeds the {self.remaining()} bytes left in the file",
            self.loc.at(self.pos - 8),
        )


class GgufScanner:
    """Checks a GGUF file's header, metadata and tensor table; analyses its chat templates."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield the findings for one GGUF file, reading only its header and metadata."""
        from mlchain.scan.chat_template import analyse_template

        with artifact.path.open("rb") as handle:
            info = parse_gguf(handle, artifact.size, artifact.location, ctx)
        yield from info.findings
        for key, source in info.templates.items():
            name = None if key == "tokenizer.chat_template" else key
            yield from analyse_template(source, artifact.location, name)


def read_gguf_metadata(path: Path, limits: Limits | None = None) -> dict[str, Any]:
    """Summarise a GGUF file for the SBOM: architecture, licence, quantisation, templates...

    Never raises for malformed content: whatever could be read is returned, with every problem
    listed under ``"problems"``.

    Raises:
        OSError: if ``path`` cannot be opened or read.
    """
    ctx = ScanContext(ScanOptions(limits=limits or Limits()))
    size = path.stat().st_size
    with path.open("rb") as handle:
        info = parse_gguf(handle, size, Location(PurePosixPath(path.name)), ctx)
    meta = info.metadata
    file_type = meta.get("general.file_type")
    return {
        "version": info.version,
        "tensor_count": info.tensor_count,
        "kv_count": info.kv_count,
        "alignment": info.alignment,
        "architecture": meta.get("general.architecture"),
        "name": meta.get("general.name"),
        "license": meta.get("general.license"),
        "size_label": meta.get("general.size_label"),
        "file_type": file_type,
        "quantization": FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        "tensor_types": dict(info.tensor_types),
        "parameter_count": info.parameter_count,
        "chat_templates": dict(info.templates),
        "metadata": {k: v for k, v in meta.items() if not k.startswith("tokenizer.chat_template")},
        "problems": [f.message for f in info.findings],
    }


def parse_gguf(handle: BinaryIO, size: int, loc: Location, ctx: ScanContext) -> GgufInfo:
    """Parse the GGUF header of ``handle``; malformed structure becomes ``info.findings``."""
    info = GgufInfo()
    reader = _Reader(handle, size, ctx.limits.max_header_bytes, loc)
    try:
        _parse(reader, info, loc, ctx)
    except _Stop as stop:
        info.findings.append(stop.finding)
    info.bytes_read = reader.bytes_read
    return info


def _invalid(message: str, loc: Location, severity: Severity | None = None) -> Finding:
    return finding("gguf-invalid-header", message, loc, severity=severity)


def _parse(reader: _Reader, info: GgufInfo, loc: Location, ctx: ScanContext) -> None:
    if reader.take(4, "magic") != MAGIC:
        raise _Stop(_invalid("file does not start with the GGUF magic", loc.at(0)))
    version = reader.unpack(_U32, "version")
    info.version = version
    if version == 1:
        raise _Stop(_invalid("GGUF version 1 (32-bit counts) is obsolete and refused", loc.at(4)))
    if version not in SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        hint = " (a big-endian GGUF)" if swapped in SUPPORTED_VERSIONS else ""
        raise _Stop(_invalid(f"unknown GGUF version {version}{hint}", loc.at(4)))
    n_tensors = reader.unpack(_U64, "tensor count")
    n_kv = reader.unpack(_U64, "metadata count")
    info.tensor_count, info.kv_count = n_tensors, n_kv
    _check_count("tensors", n_tensors, _MIN_TENSOR_INFO, reader, ctx, loc.at(8))
    _check_count("metadata entries", n_kv, _MIN_KV, reader, ctx, loc.at(16))
    keys: set[str] = set()
    for index in range(n_kv):
        if not index & 0xFFF and ctx.out_of_time():
            raise _Stop(finding("scan-limit-exceeded", "time limit reached in GGUF metadata", loc))
        _read_kv(reader, info, keys, ctx)
    _check_alignment(info, loc)
    tensors = _read_tensor_infos(reader, info, n_tensors, ctx)
    _check_layout(reader, info, tensors, loc)


def _check_count(
    what: str, count: int, min_size: int, reader: _Reader, ctx: ScanContext, loc: Location
) -> None:
    if count * min_size > reader.remaining():
        raise _Stop(
            _invalid(
                f"declares {count} {what}, but the {reader.remaining()} bytes left can hold at "
                f"most {reader.remaining() // min_size}",
                loc,
            )
        )
    if count > ctx.limits.max_members:
        raise _Stop(
            finding(
                "scan-limit-exceeded",
                f"declares {count} {what}, more than the limit of {ctx.limits.max_members}",
                loc,
            )
        )


def _read_string(reader: _Reader, what: str, max_len: int | None = None) -> bytes:
    length = reader.unpack(_U64, f"{what} length")
    if length > reader.remaining():
        raise _Stop(reader.oversized(what, length))
    if max_len is not None and length > max_len:
        raise _Stop(
            _invalid(
                f"{what} of {length} bytes is longer than {max_len}", reader.loc.at(reader.pos)
            )
        )
    return reader.take(length, what)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _read_kv(reader: _Reader, info: GgufInfo, keys: set[str], ctx: ScanContext) -> None:
    at = reader.pos
    key = _decode(_read_string(reader, "metadata key", MAX_KEY_BYTES))
    if key in keys:
        info.findings.append(
            _invalid(
                f"duplicate metadata key {key!r}; loaders disagree on which wins", reader.loc.at(at)
            )
        )
    keys.add(key)
    value_type = reader.unpack(_U32, "value type")
    if key == "general.alignment":
        info.alignment_type = _TYPE_NAMES.get(value_type, str(value_type))
    is_template = key.startswith("tokenizer.chat_template")
    if value_type in _SCALARS:
        value = reader.unpack(_SCALARS[value_type], key)
        if len(info.metadata) < MAX_KEPT_KEYS or key.startswith("general."):
            info.metadata[key] = bool(value) if value_type == T_BOOL else value
        if is_template:
            info.findings.append(
                finding(
                    "chat-template-suspicious",
                    f"{key} holds a {_TYPE_NAMES[value_type]}, not a template string",
                    reader.loc.at(at),
                )
            )
        if value_type == T_BOOL and value > 1:
            info.findings.append(
                _invalid(f"boolean {key!r} holds {value}", reader.loc.at(at), Severity.MEDIUM)
            )
    elif value_type == T_STRING:
        if is_template:
            raw = _read_template(reader, info, key)
            if raw is not None and len(info.templates) < MAX_TEMPLATES:
                info.templates[key] = raw
            elif raw is not None:
                info.findings.append(
                    finding(
                        "chat-template-suspicious",
                        f"{key} was not analysed: more than {MAX_TEMPLATES} chat templates",
                        reader.loc.at(at),
                        severity=Severity.HIGH,
                    )
                )
        else:
            length = reader.unpack(_U64, f"{key} length")
            if length > reader.remaining():
                raise _Stop(reader.oversized(key, length))
            keep = min(length, MAX_KEPT_STRING if key.startswith("general.") else MAX_KEPT_OTHER)
            if len(info.metadata) < MAX_KEPT_KEYS or key.startswith("general."):
                info.metadata[key] = _decode(reader.take(keep, key))
                reader.skip(length - keep, key)
            else:
                reader.skip(length, key)
    elif value_type == T_ARRAY:
        _check_array_type(reader, info, key, at)
        kept = _read_array(reader, info, key, ctx, depth=1, keep_strings=is_template)
        for index, text in enumerate(kept):
            info.templates[f"{key}[{index}]"] = text
    else:
        raise _Stop(
            _invalid(f"metadata {key!r} has unknown value type {value_type}", reader.loc.at(at))
        )


def _check_array_type(reader: _Reader, info: GgufInfo, key: str, at: int) -> None:
    """Loaders cast tokenizer arrays to the type they expect without checking (llama.cpp #26690)."""
    expected = EXPECTED_ARRAY_TYPES.get(key)
    if expected is None or reader.remaining() < 4:
        return
    index = reader._window(4, f"{key} element type")
    elem_type = _U32.unpack_from(reader.buf, index)[0]
    if elem_type != expected:
        info.findings.append(
            _invalid(
                f"array {key!r} holds {_TYPE_NAMES.get(elem_type, str(elem_type))} elements; "
                f"loaders read it as {_TYPE_NAMES[expected]} without checking",
                reader.loc.at(at),
            )
        )


def _read_template(reader: _Reader, info: GgufInfo, key: str) -> str | None:
    length = reader.unpack(_U64, f"{key} length")
    if length > reader.remaining():
        raise _Stop(reader.oversized(key, length))
    if length > MAX_TEMPLATE_BYTES:
        info.findings.append(
            finding(
                "chat-template-suspicious",
                f"{key} is {length} bytes, too large to analyse",
                reader.loc.at(reader.pos),
                severity=Severity.HIGH,
            )
        )
        reader.skip(length, key)
        return None
    return _decode(reader.take(length, key))


def _read_array(
    reader: _Reader, info: GgufInfo, key: str, ctx: ScanContext, *, depth: int, keep_strings: bool
) -> list[str]:
    at = reader.pos
    elem_type = reader.unpack(_U32, f"{key} element type")
    count = reader.unpack(_U64, f"{key} element count")
    if elem_type not in _MIN_ELEMENT:
        raise _Stop(
            _invalid(f"array {key!r} has unknown element type {elem_type}", reader.loc.at(at))
        )
    if count * _MIN_ELEMENT[elem_type] > reader.remaining():
        raise _Stop(
            _invalid(
                f"array {key!r} declares {count} {_TYPE_NAMES[elem_type]} elements, more than the "
                f"{reader.remaining()} bytes left can hold",
                reader.loc.at(at),
            )
        )
    if elem_type in _SCALARS:
        reader.skip(count * _SCALARS[elem_type].size, key)
        return []
    if elem_type == T_STRING:
        if not keep_strings:
            reader.skip_strings(count, ctx)
            return []
        kept: list[str] = []
        for index in range(count):
            if len(info.templates) + len(kept) >= MAX_TEMPLATES:
                info.findings.append(
                    finding(
                        "chat-template-suspicious",
                        f"{key} lists {count} templates; only {MAX_TEMPLATES} were analysed",
                        reader.loc.at(at),
                        severity=Severity.HIGH,
                    )
                )
                reader.skip_strings(count - index, ctx)
                break
            text = _read_template(reader, info, key)
            if text is not None:
                kept.append(text)
        return kept
    # Nested arrays: the spec allows them, llama.cpp refuses them, gguf-py recursed without bound.
    if depth == 1:
        info.findings.append(
            _invalid(
                f"array {key!r} nests arrays, which llama.cpp refuses",
                reader.loc.at(at),
                Severity.MEDIUM,
            )
        )
    if depth >= MAX_NESTING:
        raise _Stop(
            _invalid(f"array {key!r} nests deeper than {MAX_NESTING} levels", reader.loc.at(at))
        )
    for done in range(count):
        _read_array(reader, info, key, ctx, depth=depth + 1, keep_strings=False)
        if not done & 0xFFFF and ctx.out_of_time():
            raise _Stop(
                finding("scan-limit-exceeded", "time limit reached in GGUF metadata", reader.loc)
            )
    return []


def _check_alignment(info: GgufInfo, loc: Location) -> None:
    kind = info.alignment_type
    if kind is None:
        return
    value = info.metadata.get("general.alignment")
    if kind != "uint32":
        raise _Stop(_invalid(f"general.alignment is a {kind}, not uint32", loc))
    if not isinstance(value, int) or value <= 0 or value & (value - 1):
        raise _Stop(_invalid(f"general.alignment {value} is not a power of two", loc))
    info.alignment = value


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    offset: int
    nbytes: int
    at: int


def _read_tensor_infos(
    reader: _Reader, info: GgufInfo, count: int, ctx: ScanContext
) -> list[_Tensor] | None:
    """Read every tensor info; ``None`` when sizes are unknown and the layout cannot be judged."""
    loc = reader.loc
    tensors: list[_Tensor] | None = []
    names: set[str] = set()
    for index in range(count):
        at = reader.pos
        if not index & 0xFFF and ctx.out_of_time():
            raise _Stop(finding("scan-limit-exceeded", "time limit reached in tensor infos", loc))
        raw = _read_string(reader, "tensor name")
        name = _decode(raw)
        if len(raw) > MAX_NAME_BYTES:
            info.findings.append(
                _invalid(f"tensor name of {len(raw)} bytes is too long", loc.at(at))
            )
        if name in names:
            info.findings.append(_invalid(f"duplicate tensor name {name[:80]!r}", loc.at(at)))
        names.add(name)
        n_dims = reader.unpack(_U32, "dimension count")
        if n_dims > MAX_DIMS:
            raise _Stop(
                _invalid(f"tensor {name[:80]!r} has {n_dims} dimensions (at most 4)", loc.at(at))
            )
        dims = [reader.unpack(_U64, "dimension") for _ in range(n_dims)]
        type_id = reader.unpack(_U32, "tensor type")
        offset = reader.unpack(_U64, "tensor offset")
        nbytes = _tensor_size(info, name, dims, type_id, offset, loc.at(at))
        if nbytes is None:
            tensors = None
        elif tensors is not None:
            tensors.append(_Tensor(name, offset, nbytes, at))
    return tensors


def _tensor_size(
    info: GgufInfo, name: str, dims: list[int], type_id: int, offset: int, loc: Location
) -> int | None:
    label = f"tensor {name[:80]!r}"
    if any(d > _INT64_MAX for d in dims):
        info.findings.append(_invalid(f"{label} has a negative dimension", loc))
        return None
    nelements = 1
    for dim in dims:
        nelements *= dim
    if nelements > _INT64_MAX:
        info.findings.append(
            _invalid(f"{label} has {nelements} elements, overflowing 64-bit sizes", loc)
        )
        return None
    known = GGML_TYPES.get(type_id)
    if known is None:
        info.findings.append(_invalid(f"{label} has unknown ggml type {type_id}", loc))
        return None
    type_name, block, type_size = known
    info.tensor_types[type_name] = info.tensor_types.get(type_name, 0) + 1
    info.parameter_count += nelements
    if dims and dims[0] % block:
        info.findings.append(
            _invalid(
                f"{label}: first dimension {dims[0]} is not a multiple of {type_name}'s "
                f"block size {block}",
                loc,
            )
        )
        return None
    if offset % info.alignment:
        info.findings.append(
            _invalid(
                f"{label} offset {offset} is not a multiple of the alignment {info.alignment}", loc
            )
        )
    nbytes = nelements // block * type_size
    if nbytes > _INT64_MAX:
        info.findings.append(_invalid(f"{label} is {nbytes} bytes, overflowing 64-bit sizes", loc))
        return None
    return nbytes


def _check_layout(
    reader: _Reader, info: GgufInfo, tensors: list[_Tensor] | None, loc: Location
) -> None:
    if tensors is None:
        return
    align = info.alignment
    data_start = -(-reader.pos // align) * align
    if not tensors:
        # No data section: at most the alignment padding may follow the metadata, as zeros.
        end_of_metadata = reader.pos
        padding = reader.size - end_of_metadata
        if padding >= align or (padding and reader.take(padding, "padding").strip(b"\0")):
            data_start = end_of_metadata
    expected = 0
    for tensor in tensors:
        if tensor.offset != expected:
            info.findings.append(
                _invalid(
                    f"tensor {tensor.name[:80]!r} has offset {tensor.offset}, expected {expected} "
                    "(tensors must be contiguous and in order)",
                    loc.at(tensor.at),
                )
            )
            return
        end = data_start + tensor.offset + tensor.nbytes
        if end > reader.size:
            info.findings.append(
                _invalid(
                    f"tensor {tensor.name[:80]!r} ends at byte {end}, past the end of the "
                    f"{reader.size}-byte file",
                    loc.at(tensor.at),
                )
            )
            return
        expected += -(-tensor.nbytes // align) * align
    tail = reader.size - (data_start + expected)
    if tail > 0:
        reader.handle.seek(data_start + expected)
        peek = reader.handle.read(min(16, tail))  # names what is hidden there; never more
        reader.bytes_read += len(peek)
        pickle = len(peek) >= 2 and peek[0] == 0x80 and 2 <= peek[1] <= 5
        info.findings.append(
            finding(
                "gguf-trailing-data",
                f"{tail} bytes after the last tensor: "
                f"{'an appended pickle' if pickle else 'undeclared data'}",
                loc.at(data_start + expected),
                evidence=peek.hex(" ") or None,
            )
        )


__all__ = ["GGML_TYPES", "GgufInfo", "GgufScanner", "parse_gguf", "read_gguf_metadata"]
