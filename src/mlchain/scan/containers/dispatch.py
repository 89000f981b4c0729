"""Route a buffer to the right container reader, recursively, within the nesting limit.

Top-level files are memory-mapped and handed to :func:`scan_buffer` with the format detection
found; nested content (archive members, decompressed streams) is sniffed here by magic bytes and
routed the same way, one level deeper. Every reader yields findings and never raises on hostile
content.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.containers.zipreader import Buffer
from mlchain.scan.detect import PICKLE_FAMILY

Buf = Buffer
"""Anything the readers accept: a file map, a memory view of one, or bytes."""

SNIFF_BYTES = 64 * 1024
"""How much of a nested member is decompressed to decide what it is."""

LZ4_MAGIC = b"\x04\x22\x4d\x18"
"""lz4 frame magic (joblib's lz4 compressor); decompressing it needs a third-party module."""

NESTED_SCANNABLE = PICKLE_FAMILY | {F.TORCHSCRIPT, F.SEVEN_ZIP, F.ZIP, F.TAR}
"""Formats this package scans when it finds them inside another container."""


@dataclass(slots=True)
class State:
    """Mutable per-file state shared across nesting levels."""

    decompressed: int = 0
    """Bytes decompressed so far in this file (all levels), against ``max_decompressed_bytes``."""
    timed_out: bool = False


def sniff(buf: Buf) -> F | None:
    """Format of nested content by its magic bytes, or ``None`` when it is nothing we scan."""
    from mlchain.scan.containers.legacy import is_legacy_torch
    from mlchain.scan.pickle_sniff import sniff_pickle

    head = bytes(buf[:SNIFF_BYTES])
    if not head:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        from mlchain.scan.containers.zipscan import classify_zip_buffer

        return classify_zip_buffer(buf)
    if head.startswith(b"\x93NUMPY"):
        return F.NUMPY
    if head.startswith(b"\x1f\x8b"):
        return F.GZIP
    if head.startswith(b"BZh"):
        return F.BZIP2
    if head.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
        return F.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return F.SEVEN_ZIP
    if is_legacy_torch(head):
        return F.PYTORCH_LEGACY
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return F.PICKLE
    if len(head) >= 262 and head[257:262] == b"ustar":
        from mlchain.scan.containers.tarscan import classify_tar_buffer

        return classify_tar_buffer(buf)
    if head[0] == 0x78 and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return F.ZLIB
    if head.startswith(b"ZF0x"):
        return F.ZLIB  # old joblib ZF file (see compressed.py)
    if sniff_pickle(head, head_is_whole_file=len(head) < SNIFF_BYTES):
        return F.PICKLE
    return None


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
MAX_NOTES = 20
"""``not-scanned`` notes listed per archive before they are summarised."""


def unscanned_note(head: bytes, location: Location) -> Finding | None:
    """An INFO ``not-scanned`` finding for a member that is neither inert nor scannable."""
    from mlchain.scan.detect import is_text

    if not head or head.startswith(_IMAGE_MAGIC) or is_text(head[:4096]):
        return None
    kind = "unrecognised binary content"
    if head.startswith(b"GGUF"):
        kind = "a GGUF model"
    elif len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 32:
        kind = "a safetensors file"
    return finding(
        "not-scanned",
        f"archive member holds {kind}; extract it and scan it on its own",
        location,
    )


def limit_notes(findings: Iterator[Finding], location: Location) -> Iterator[Finding]:
    """Pass ``findings`` through, listing at most :data:`MAX_NOTES` ``not-scanned`` notes."""
    notes = 0
    for item in findings:
        if item.rule_id == "not-scanned" and item.severity == Severity.INFO:
            notes += 1
            if notes > MAX_NOTES:
                continue
        yield item
    if notes > MAX_NOTES:
        yield finding(
            "not-scanned",
            f"{notes - MAX_NOTES} more archive members were not scanned (unrecognised content)",
            location,
        )


def worth_scanning(head: Buf) -> bool:
    """Whether a member's head is something :func:`scan_nested` reports on."""
    return bytes(head[:4]) == LZ4_MAGIC or sniff(head) is not None


def scan_buffer(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Yield the findings for ``buf`` holding content of format ``fmt``."""
    if depth > ctx.limits.max_nesting:
        yield finding(
            "archive-bomb",
            f"containers nest deeper than the limit of {ctx.limits.max_nesting} levels; "
            "the innermost content was not scanned",
            location,
        )
        return
    if ctx.out_of_time():
        if not state.timed_out:
            state.timed_out = True
            yield finding("scan-limit-exceeded", "time limit reached; scan incomplete", location)
        return
    if fmt in (F.PICKLE, F.JOBLIB):
        from mlchain.scan.containers.pickles import scan_pickle_stream

        yield from scan_pickle_stream(buf, location, ctx, depth=depth).findings
    elif fmt in (F.ZIP, F.PYTORCH_ZIP, F.TORCHSCRIPT, F.NUMPY_ZIP, F.KERAS, F.SKOPS):
        from mlchain.scan.containers.zipscan import scan_zip

        yield from scan_zip(buf, fmt, location, ctx, state, depth)
    elif fmt in (F.TAR, F.PYTORCH_TAR):
        from mlchain.scan.containers.tarscan import scan_tar

        yield from scan_tar(buf, fmt, location, ctx, state, depth)
    elif fmt is F.PYTORCH_LEGACY:
        from mlchain.scan.containers.legacy import scan_legacy

        yield from scan_legacy(buf, location, ctx, depth)
    elif fmt is F.NUMPY:
        from mlchain.scan.containers.npy import scan_npy

        yield from scan_npy(buf, location, ctx, depth)
    elif fmt in (F.GZIP, F.BZIP2, F.XZ, F.ZLIB):
        from mlchain.scan.containers.compressed import scan_compressed

        yield from scan_compressed(buf, fmt, location, ctx, state, depth)
    elif fmt is F.SEVEN_ZIP:
        from mlchain.scan.containers.compressed import seven_zip_finding

        yield seven_zip_finding(location)
    else:  # pragma: no cover - callers only route the formats above
        yield finding("not-scanned", f"nested {fmt.value} content was not scanned", location)


def scan_nested(
    buf: Buf, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Sniff ``buf`` (a member or decompressed stream) and scan it if it is a known container."""
    if bytes(buf[:4]) == LZ4_MAGIC:
        yield finding(
            "archive-unsupported",
            "lz4 frame (joblib compress='lz4'): mlchain cannot decompress lz4; not scanned",
            location,
        )
        return
    fmt = sniff(buf)
    if fmt is None:
        return
    yield from scan_buffer(buf, fmt, location, ctx, state, depth)


@contextmanager
def mapped(path: Path) -> Iterator[Buf]:
    """Map ``path`` read-only (an empty file gives ``b""``)."""
    with path.open("rb") as handle:
        try:
            view: Buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            yield b""
            return
        try:
            yield view
        finally:
            assert isinstance(view, mmap.mmap)
            with suppress(BufferError):  # a slice outlived the scan; the GC releases it
                view.close()


class ContainerScanner:
    """Scanner for every container format of this package (one instance per format)."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> list[Finding]:
        """Return the findings for ``artifact``; malformed content becomes findings."""
        with mapped(artifact.path) as buf:
            return list(scan_buffer(buf, artifact.format, artifact.location, ctx, State(), 0))


def u16(buf: Buf, pos: int) -> int:
    """Little-endian unsigned 16-bit value at ``pos``."""
    return int(struct.unpack("<H", bytes(buf[pos : pos + 2]))[0])


def u32(buf: Buf, pos: int) -> int:
    """Little-endian unsigned 32-bit value at ``pos``."""
    return int(struct.unpack("<I", bytes(buf[pos : pos + 4]))[0])
