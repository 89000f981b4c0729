"""Compressed streams: gzip, bzip2, xz/lzma and zlib (joblib's compressors), and 7z.

joblib writes compressed pickles with a magic number per compressor (its ``compressor.py``):
zlib ``78``, gzip ``1f 8b``, bz2 ``BZh``, xz ``fd 37 7a 58 5a 00`` and raw lzma ``5d 00 00``;
lz4 (``04 22 4d 18``) needs a third-party module and is reported, not decompressed. joblib
before 0.10 wrote ``ZF`` files (a hex length, then zlib); ``joblib.load`` still reads them.
Any of these may also wrap a plain pickle, a tar archive or another container. The stream is
decompressed incrementally into a memory-mapped anonymous temporary file, bounded by
``max_decompressed_bytes`` and ``max_ratio``; the result is sniffed and scanned one level deeper.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import suppress

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import Buf
from mlchain.scan.containers.common import State, nested_format
from mlchain.scan.containers.streams import CorruptStream, Inflater, LimitHit, TimeUp, spool
from mlchain.scan.magic import ZFILE_HEADER, ZFILE_MAGIC, is_zfile

_CODEC = {F.GZIP: "gzip", F.BZIP2: "bz2", F.XZ: "xz", F.ZLIB: "zlib"}
_CHUNK = 1 << 20


ZFILE_PREFIX = ZFILE_MAGIC
_ZFILE_HEADER = ZFILE_HEADER
"""Old joblib (< 0.10) ``ZF`` files: ``ZF``, the hex length padded to 19 characters, zlib data.
``joblib.load`` still reads them (``numpy_pickle_compat``) and unpickles the result."""


def _zlib_start(buf: Buf) -> int:
    if not is_zfile(bytes(buf[:_ZFILE_HEADER])):
        return 0
    # joblib <= 0.8.4 on Python 2 wrote one more space; zlib data never starts with one.
    return (
        _ZFILE_HEADER + 1
        if bytes(buf[_ZFILE_HEADER : _ZFILE_HEADER + 1]) == b" "
        else _ZFILE_HEADER
    )


def _chunks(buf: Buf, start: int = 0) -> Iterator[bytes]:
    # Pages of a mapped input are dropped once consumed, so a long stream does not stay
    # resident (they are file-backed; dropping only avoids holding them).
    drop = isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED")
    for pos in range(start, len(buf), _CHUNK):
        yield bytes(buf[pos : pos + _CHUNK])
        if drop:
            assert isinstance(buf, mmap.mmap)
            aligned = pos - pos % mmap.PAGESIZE
            with suppress(OSError, ValueError):
                buf.madvise(mmap.MADV_DONTNEED, aligned, min(len(buf), pos + _CHUNK) - aligned)


def scan_compressed(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Decompress ``buf`` (a ``fmt`` stream) within the limits and scan what it holds."""
    codec = _CODEC[fmt]
    inflater = Inflater(codec, multi_stream=codec != "zlib")
    budget = max(ctx.limits.max_decompressed_bytes - state.decompressed, 0)
    try:
        sp = spool(
            inflater,
            _chunks(buf, _zlib_start(buf) if fmt is F.ZLIB else 0),
            max_bytes=budget,
            max_ratio=ctx.limits.max_ratio,
            out_of_time=ctx.out_of_time,
        )
    except LimitHit as exc:
        state.decompressed += exc.produced
        rule = "scan-limit-exceeded" if isinstance(exc, TimeUp) else "archive-bomb"
        yield finding(rule, f"{fmt.value} stream: {exc}; not scanned further", location)
        return
    except CorruptStream as exc:
        yield finding(
            "parse-error",
            f"{fmt.value} stream is corrupt; what a lenient reader recovers was not scanned",
            location,
            evidence=str(exc),
        )
        return
    with sp:
        state.decompressed += sp.size
        if not inflater.finished:
            yield finding("parse-error", f"{fmt.value} stream is truncated", location)
        if inflater.trailing:
            yield finding(
                "archive-malformed",
                f"{inflater.trailing} bytes follow the end of the {fmt.value} stream",
                location,
            )
        view = sp.view()
        inner = nested_format(view)
        if inner is None:
            if sp.size:
                yield finding(
                    "not-scanned",
                    f"decompressed {fmt.value} content is no format mlchain scans",
                    location,
                )
        else:
            yield from state.route(view, inner, location, ctx, state, depth + 1)
        del view


def seven_zip_finding(location: Location) -> Finding:
    """The finding for a 7z archive: it cannot be opened with the standard library.

    torch.load cannot read 7z either, but the nullifAI models (2025) showed 7z-wrapped pickles
    on a model hub evading scanners: custom loading code can unpack and unpickle them. An opaque
    archive in a model folder is therefore reported at high severity rather than passed.
    """
    return finding(
        "archive-unsupported",
        "7z archive: mlchain cannot decompress 7z, so its content was not scanned",
        location,
    )
