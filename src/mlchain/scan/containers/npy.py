r"""NumPy ``.npy`` files: parse the header; scan the pickle of object arrays.

Format (NEP 1): ``\x93NUMPY``, major and minor version bytes, a little-endian header length
(2 bytes in version 1, 4 bytes in versions 2 and 3), then a Python dict literal with ``descr``,
``fortran_order`` and ``shape`` (latin-1 in versions 1-2, UTF-8 in version 3). Arrays whose dtype
holds Python objects are stored as a pickle right after the header and ``numpy.load`` (with
``allow_pickle=True``) unpickles it; every other array is raw bytes and is clean without reading
its data. The header is read with :func:`ast.literal_eval` (literals only, as numpy does) after a
size bound.
"""

from __future__ import annotations

import ast
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import Buf
from mlchain.scan.containers.common import State

MAGIC = b"\x93NUMPY"
MAX_LITERAL = 1 << 20
"""Largest header given to ``ast.literal_eval`` (numpy's own default cap is 10000 bytes)."""


class NpyError(Exception):
    """The header is malformed."""


@dataclass(frozen=True, slots=True)
class NpyHeader:
    """A parsed ``.npy`` header."""

    version: tuple[int, int]
    descr: object
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int
    """Where the array data (or the pickle of an object array) starts."""
    has_object: bool


def parse_header(buf: Buf, *, max_header: int = MAX_LITERAL) -> NpyHeader:
    """Parse the ``.npy`` header at the start of ``buf``.

    Raises:
        NpyError: for anything numpy would refuse or that exceeds ``max_header``.
    """
    head = bytes(buf[:12])
    if not head.startswith(MAGIC) or len(head) < 10:
        raise NpyError("missing NumPy magic")
    major, minor = head[6], head[7]
    if major == 1:
        (length,) = struct.unpack_from("<H", head, 8)
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            raise NpyError("truncated header length")
        (length,) = struct.unpack_from("<I", head, 8)
        start = 12
    else:
        raise NpyError(f"unsupported format version {major}.{minor}")
    if length > max_header:
        raise NpyError(f"header of {length} bytes exceeds the limit of {max_header}")
    raw = bytes(buf[start : start + length])
    if len(raw) < length:
        raise NpyError("header is truncated")
    encoding = "utf-8" if major == 3 else "latin-1"
    try:
        text = raw.decode(encoding)
        with warnings.catch_warnings():  # hostile text must not print SyntaxWarnings on stderr
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NpyError("header is not a Python literal") from None
    if not isinstance(value, dict) or set(value) != {"descr", "fortran_order", "shape"}:
        raise NpyError("header must have exactly the keys descr, fortran_order and shape")
    shape = value["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise NpyError("shape is not a tuple of non-negative integers")
    if not isinstance(value["fortran_order"], bool):
        raise NpyError("fortran_order is not a boolean")
    descr = value["descr"]
    return NpyHeader(
        version=(major, minor),
        descr=descr,
        fortran_order=value["fortran_order"],
        shape=shape,
        data_offset=start + length,
        has_object=_has_object(descr, 0),
    )


def _has_object(descr: object, level: int) -> bool:
    """Whether a descr holds Python objects, as ``numpy.lib.format.descr_to_dtype`` resolves it.

    Every spelling numpy resolves to an object dtype counts (``'O'``, ``'|O'``, ``'O8'``,
    ``'O4'``, ``'O +8'``, ``'object'``, ``'object_'``, subarrays, nested and title fields...):
    see :mod:`mlchain.scan.numpy_dtype`.

    Raises:
        NpyError: for a descr numpy refuses or that is not modelled exactly (fail closed).
    """
    from mlchain.scan.numpy_dtype import DtypeError, descr_has_object

    try:
        return descr_has_object(descr, level)
    except DtypeError as exc:
        raise NpyError(f"dtype {str(descr)[:60]!r} is not understood: {exc}") from None


def scan_npy(
    buf: Buf, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Yield findings for a ``.npy`` file or npz member held in ``buf``."""
    if bytes(buf[:6]) != MAGIC:
        # numpy.load would unpickle a non-npy file (allow_pickle); in an npz it returns bytes.
        yield from state.nested(buf, location, ctx, depth + 1)
        return
    try:
        header = parse_header(buf, max_header=min(ctx.limits.max_header_bytes, MAX_LITERAL))
    except NpyError as exc:
        yield finding("parse-error", f"NumPy header is invalid: {exc}", location)
        return
    if not header.has_object:
        return
    if header.data_offset >= len(buf):
        yield finding("parse-error", "object array has no pickle after its header", location)
        return
    from mlchain.scan.containers.pickles import scan_pickle_stream

    result = scan_pickle_stream(buf, location, ctx, start=header.data_offset, depth=depth)
    yield from result.findings
