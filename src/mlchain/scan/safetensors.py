"""safetensors files and sharded-checkpoint indexes, checked from the header alone.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON, then the
data section. The reference loader (the Rust ``safetensors`` crate) accepts a file only when the
header is at most 100 MB of UTF-8 JSON, every tensor has a known dtype, ``bits(dtype) x
prod(shape)`` is a whole number of bytes equal to its offset span (checked for overflow), and the
tensors, sorted by offset, tile the data section exactly from 0 to its end. mlchain enforces the
same rules and more (strict JSON: duplicate keys, ``NaN``, non-string metadata), reading only the
first ``8 + N`` bytes: tensor data is never read, so a 2 GiB file costs one small read.

Bytes outside the declared tensors (a gap or a tail) are what a polyglot needs: a pickle appended
to a valid safetensors file still loads as safetensors, and as a pickle in any tool that sniffs it
differently. They are reported as ``safetensors-polyglot``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.strict_json import JsonProblem, parse_strict

FORMAT_MAX_HEADER = 100_000_000
"""The reference loader's ``MAX_HEADER_SIZE``: larger headers are refused by every loader."""

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    # Sub-byte dtypes (safetensors >= 0.6): a tensor must still fill whole bytes.
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}
"""Element width in bits of every dtype the reference loader knows (``Dtype::bitsize``)."""

_U64_MAX = 2**64 - 1
_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_MAX_FINDINGS = 50
_PICKLE_PROTOCOL_OPCODE = 0x80


@dataclass(frozen=True, slots=True)
class _Span:
    name: str
    begin: int
    end: int


@dataclass(slots=True)
class _Header:
    """What header validation learned: well-formed tensor spans, and whether to trust them."""

    spans: list[_Span] = field(default_factory=list)
    usable: bool = True


class SafetensorsScanner:
    """Validates a safetensors header exactly as strictly as the reference loader, and more."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield findings for one safetensors file, reading only its header."""
        with artifact.path.open("rb") as handle:
            found = list(check_safetensors(handle, artifact.size, artifact.location, ctx))
        yield from _capped(found, artifact.location)


def check_safetensors(
    handle: BinaryIO, size: int, loc: Location, ctx: ScanContext
) -> Iterator[Finding]:
    """Check the safetensors file open as ``handle`` (``size`` bytes long).

    Reads the 8-byte length, the header, and at most 16 bytes of any undeclared trailing data
    (to name what it is); never the tensors.
    """
    if size < 8:
        yield _invalid(f"file is {size} bytes, shorter than the 8-byte header length", loc)
        return
    raw_len = handle.read(8)
    if len(raw_len) < 8:
        yield _invalid("file ended inside the header length", loc)
        return
    (header_len,) = struct.unpack("<Q", raw_len)
    if header_len > FORMAT_MAX_HEADER:
        yield _invalid(
            f"header length {header_len} exceeds the format's limit of {FORMAT_MAX_HEADER} bytes",
            loc.at(0),
        )
        return
    if header_len > ctx.limits.max_header_bytes:
        yield finding(
            "scan-limit-exceeded",
            f"header of {header_len} bytes exceeds the limit of "
            f"{ctx.limits.max_header_bytes} bytes; the file was not scanned",
            loc.at(0),
        )
        return
    if 8 + header_len > size:
        yield _invalid(
            f"header length {header_len} runs past the end of the {size}-byte file", loc.at(0)
        )
        return
    header = handle.read(header_len)
    if len(header) < header_len:
        yield _invalid("file ended inside the header (it changed while being read?)", loc.at(8))
        return
    data_len = size - 8 - header_len
    state = _Header()
    yield from _check_header(header, loc, ctx, state)
    if state.usable:
        yield from _check_layout(handle, state.spans, header_len, data_len, loc)


_JSON_WS = b" \t\n\r"
"""What serde_json (and the JSON grammar) treats as whitespace; nothing else."""


def _check_header(
    header: bytes, loc: Location, ctx: ScanContext, state: _Header
) -> Iterator[Finding]:
    """Validate the JSON header; record the well-formed tensors' spans in ``state``."""
    hloc = loc.at(8)
    # The reference (Rust) loader parses the header with serde_json::from_str, which skips JSON
    # whitespace (space, tab, LF, CR) before and after the object; its "must start with '{'"
    # check is still commented out. Any other leading byte is refused.
    if not header.lstrip(_JSON_WS).startswith(b"{"):
        yield _invalid("header does not start with '{'", hloc, evidence=header[:40])
        state.usable = False
        return
    if len(header) % 8:
        yield finding(
            "safetensors-invalid-header",
            f"header length {len(header)} is not padded to a multiple of 8 bytes, as every "
            "current writer does",
            hloc,
            severity=Severity.LOW,
        )
    try:
        parsed = parse_strict(header)
    except JsonProblem as exc:
        yield _invalid(f"header is not strict JSON: {exc}", hloc)
        state.usable = False
        return
    if header.rstrip(_JSON_WS)[-1:] != b"}":
        yield _invalid(
            "header padding after the JSON object is not JSON whitespace",
            hloc,
            evidence=header[-40:],
        )
    for key in dict.fromkeys(parsed.duplicates):
        yield _invalid(
            "duplicate key in header; loaders disagree on which value wins", hloc, evidence=key
        )
    doc = parsed.value
    if not isinstance(doc, dict):
        yield _invalid(f"header is a JSON {type(doc).__name__}, not an object", hloc)
        state.usable = False
        return
    if len(doc) > ctx.limits.max_members:
        yield finding(
            "scan-limit-exceeded",
            f"header declares {len(doc)} entries, more than the limit of {ctx.limits.max_members}",
            hloc,
        )
        state.usable = False
        return
    for name, info in doc.items():
        if name == "__metadata__":
            yield from _check_metadata(info, hloc)
            continue
        if ctx.out_of_time():
            yield finding(
                "scan-limit-exceeded", "time limit reached while checking the header", hloc
            )
            state.usable = False
            return
        span, problems = _check_tensor(name, info)
        for problem in problems:
            yield _invalid(f"tensor {name!r}: {problem}", hloc, evidence=name)
        if span is None:
            state.usable = False  # without its offsets, gaps and tails cannot be judged
        else:
            state.spans.append(span)


def _check_metadata(info: Any, loc: Location) -> Iterator[Finding]:
    if info is None:
        return  # the reference loader reads `null` as "no metadata"
    if not isinstance(info, dict):
        yield _invalid("__metadata__ is not an object of strings", loc)
        return
    for key, value in info.items():
        if not isinstance(value, str):
            yield _invalid(
                f"__metadata__ value for {key!r} is not a string but a JSON "
                f"{_json_type(value)} (the reference loader rejects the file)",
                loc,
                evidence=key,
            )


def _check_tensor(name: str, info: Any) -> tuple[_Span | None, list[str]]:
    if not isinstance(info, dict):
        return None, [f"entry is not an object but a JSON {_json_type(info)}"]
    problems: list[str] = []
    missing = _TENSOR_KEYS - info.keys()
    if missing:
        problems.append("missing " + ", ".join(sorted(missing)))
    extra = info.keys() - _TENSOR_KEYS
    if extra:
        problems.append("unknown keys " + ", ".join(sorted(map(repr, extra)))[:120])
    dtype = info.get("dtype")
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if "dtype" in info and bits is None:
        problems.append(f"unknown dtype {str(dtype)[:40]!r}")
    shape = info.get("shape")
    nelements: int | None = None
    if "shape" in info:
        if not isinstance(shape, list) or not all(_is_uint(d) and d <= _U64_MAX for d in shape):
            problems.append("shape is not a list of non-negative 64-bit integers")
        else:
            nelements = 1
            for dim in shape:
                nelements *= dim
                if nelements > _U64_MAX:
                    problems.append("shape overflows 64 bits")
                    nelements = None
                    break
    offsets = info.get("data_offsets")
    begin = end = None
    if "data_offsets" in info:
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_uint(o) and o <= _U64_MAX for o in offsets)
        ):
            problems.append("data_offsets is not a pair of non-negative 64-bit integers")
        elif offsets[0] > offsets[1]:
            problems.append(f"data_offsets end {offsets[1]} is before begin {offsets[0]}")
        else:
            begin, end = offsets
    if bits is not None and nelements is not None:
        nbits = nelements * bits
        if nbits > _U64_MAX:
            problems.append("size in bits overflows 64 bits")
        elif nbits % 8:
            problems.append(f"{nelements} x {dtype} elements do not fill whole bytes")
        elif begin is not None and end is not None and end - begin != nbits // 8:
            problems.append(
                f"dtype {dtype} x shape {shape} is {nbits // 8} bytes but data_offsets span "
                f"{end - begin} bytes"
            )
    if begin is None or end is None:
        return None, problems
    return _Span(name, begin, end), problems


def _check_layout(
    handle: BinaryIO, spans: list[_Span], header_len: int, data_len: int, loc: Location
) -> Iterator[Finding]:
    """Tensors must tile ``[0, data_len)`` exactly: no overlap, no gap, no tail."""
    data_start = 8 + header_len
    ordered = sorted(spans, key=lambda s: (s.begin, s.end))
    expected = 0
    for span in ordered:
        if span.begin < expected:
            yield _invalid(
                f"tensor {span.name!r} [{span.begin}, {span.end}) overlaps the previous tensor "
                f"(ends at {expected})",
                loc.at(data_start + span.begin),
                evidence=span.name,
            )
        elif span.begin > expected:
            yield finding(
                "safetensors-polyglot",
                f"{span.begin - expected} undeclared bytes between tensors before {span.name!r}",
                loc.at(data_start + expected),
                # Only bytes the file holds: a gap past its end may lie beyond any seekable offset.
                evidence=_peek(
                    handle, data_start + expected, min(span.begin, data_len) - expected
                ).hex(" "),
            )
        expected = max(expected, span.end)
    if expected > data_len:
        yield _invalid(
            f"tensors need {expected} data bytes but the file holds only {data_len}",
            loc.at(data_start + data_len),
        )
    elif expected < data_len:
        tail = _peek(handle, data_start + expected, data_len - expected)
        what = "an appended pickle" if _looks_like_pickle(tail) else "undeclared data"
        yield finding(
            "safetensors-polyglot",
            f"{data_len - expected} bytes after the last tensor: {what}",
            loc.at(data_start + expected),
            evidence=tail.hex(" ") if tail else None,
        )


def _peek(handle: BinaryIO, offset: int, available: int) -> bytes:
    """Read at most 16 of the ``available`` hidden bytes at ``offset`` to describe them."""
    length = max(0, min(16, available))
    if not length:
        return b""
    handle.seek(offset)
    return handle.read(length)


def _looks_like_pickle(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == _PICKLE_PROTOCOL_OPCODE and 2 <= data[1] <= 5


def _is_uint(value: Any) -> bool:
    return type(value) is int and value >= 0


def _json_type(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), "null")


def _invalid(message: str, loc: Location, *, evidence: str | bytes | None = None) -> Finding:
    if isinstance(evidence, bytes):
        evidence = evidence.decode("utf-8", errors="backslashreplace")
    return finding("safetensors-invalid-header", message, loc, evidence=evidence)


def _capped(found: list[Finding], loc: Location) -> Iterator[Finding]:
    yield from found[:_MAX_FINDINGS]
    if len(found) > _MAX_FINDINGS:
        yield finding(
            "safetensors-invalid-header",
            f"{len(found) - _MAX_FINDINGS} further problems not listed",
            loc,
            severity=max(f.severity for f in found[_MAX_FINDINGS:]),
        )


# --- sharded checkpoints ------------------------------------------------------------------------


class SafetensorsIndexScanner:
    """Checks that ``*.safetensors.index.json`` names only shard files inside the model folder."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield findings for one sharded-checkpoint index file."""
        loc = artifact.location
        limit = ctx.limits.max_header_bytes
        if artifact.size > limit:
            yield finding(
                "scan-limit-exceeded",
                f"index of {artifact.size} bytes exceeds the limit of {limit} bytes",
                loc,
            )
            return
        with artifact.path.open("rb") as handle:
            # Bounded by the real size: read(n) allocates n bytes up front in CPython.
            data = handle.read(min(artifact.size, limit) + 1)
        try:
            parsed = parse_strict(data)
        except JsonProblem as exc:
            yield _invalid(f"index is not strict JSON: {exc}", loc)
            return
        for key in dict.fromkeys(parsed.duplicates):
            yield _invalid("duplicate key in index", loc, evidence=key)
        weight_map = parsed.value.get("weight_map") if isinstance(parsed.value, dict) else None
        if not isinstance(weight_map, dict):
            yield _invalid("index has no weight_map object", loc)
            return
        shards: dict[str, None] = {}
        for tensor, shard in weight_map.items():
            if not isinstance(shard, str):
                yield _invalid(f"weight_map entry for {tensor!r} is not a file name", loc)
            else:
                shards[shard] = None
        base = artifact.path.parent
        for shard in list(shards)[: ctx.limits.max_members]:
            problem = shard_problem(shard, base, artifact.root)
            if problem:
                yield finding("safetensors-index-escape", f"shard {problem}", loc, evidence=shard)


def shard_problem(name: str, base: Path, root: Path) -> str | None:
    """Why the shard ``name`` (relative to the index folder ``base``) is unsafe, or ``None``.

    Absolute paths (POSIX, Windows drive or UNC), ``..`` components, NUL bytes, and names that
    resolve (symlinks included) outside ``root`` or to no regular file are all refused.
    """
    if not name or "\x00" in name:
        return "name is empty or contains a NUL byte"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith("\\"):
        return "is an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "climbs out of the folder with '..'"
    try:
        target = (base / name).resolve()
        real_root = root.resolve()
        if not target.is_relative_to(real_root):
            return "resolves outside the model folder"
        if not target.is_file():  # raises OSError for e.g. a component the FS cannot hold
            return "does not exist in the model folder"
    except (OSError, RuntimeError):
        return "cannot be resolved"
    return None


__all__ = [
    "DTYPE_BITS",
    "SafetensorsIndexScanner",
    "SafetensorsScanner",
    "check_safetensors",
    "shard_problem",
]
