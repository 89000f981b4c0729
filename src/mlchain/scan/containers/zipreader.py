"""A bounded, lenient zip central-directory reader that reads archives the way torch does.

PyTorch reads ``.pt`` zip archives with miniz (``PyTorchStreamReader``), not with Python's
:mod:`zipfile`. miniz trusts the central directory: member names, sizes and compression methods
come from it; the local header is consulted only for the length of its name and extra fields
(to find where the data starts). PyTorch builds miniz without CRC checks and ignores most
general-purpose flag bits. Scanners built on :mod:`zipfile` raised on each of these differences and
were bypassed (CVE-2025-1944 local/central name mismatch, CVE-2025-1945 flag bits, CVE-2025-10156
bad CRC). This reader therefore never raises on hostile input: it reads what a lenient loader
would read and records every irregularity as a :class:`ZipProblem` for the caller to report.

It also accepts data prepended before the archive (self-extracting style, as :mod:`zipfile` does)
and zip64 records, bounds the number of entries, and detects overlapping member data (the
non-recursive "overlapping files" zip bomb).
"""

from __future__ import annotations

import itertools
import mmap
import struct
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.buffer import Buf

EOCD_SIG = b"PK\x05\x06"
ZIP64_EOCD_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"

_EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
_MAX_COMMENT = 0xFFFF

STORED = 0
DEFLATED = 8
BZIP2 = 12

FLAG_ENCRYPTED = 0x0001
FLAG_STRONG_ENCRYPTION = 0x0040
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
_ORDINARY_FLAGS = 0x0002 | 0x0004 | FLAG_DATA_DESCRIPTOR | FLAG_UTF8
"""Deflate option bits, data descriptor and UTF-8 names: what ordinary writers set."""

_S_IFMT = 0o170000
_S_IFLNK = 0o120000
_S_IFREG = 0o100000
_S_IFDIR = 0o040000


Buffer = Buf
"""What the readers accept: a file map, a memory view of one, or bytes."""


@dataclass(frozen=True, slots=True)
class ZipProblem:
    """One irregularity found while reading, for the caller to turn into a finding."""

    kind: str
    """``malformed`` (lenient loaders accept it), ``suspicious`` (dangerous name, link, name
    mismatch), ``bomb`` (overlap, extreme ratio), ``limit`` (too many members) or ``fatal``
    (the archive could not be read at all)."""
    message: str
    member: str | None = None
    offset: int | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central-directory entry, with the data position resolved through its local header."""

    index: int
    name: str
    """Central-directory name decoded for display (invalid UTF-8 shown as escapes)."""
    raw_name: bytes
    method: int
    flags: int
    crc: int
    compressed_size: int
    uncompressed_size: int
    header_offset: int
    """Absolute offset of the local header in the buffer (prepended data included)."""
    data_offset: int
    """Absolute offset of the member data, or -1 when the local header is unusable."""
    external_attr: int
    create_system: int

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a directory (trailing slash)."""
        return self.raw_name.endswith(b"/")

    @property
    def unix_mode(self) -> int:
        """Unix mode bits when the archive was made on Unix, else 0."""
        return (self.external_attr >> 16) if self.create_system == 3 else 0

    @property
    def is_symlink(self) -> bool:
        """Whether the Unix mode marks the entry as a symbolic link."""
        return (self.unix_mode & _S_IFMT) == _S_IFLNK

    @property
    def is_special(self) -> bool:
        """Whether the Unix mode marks a device, FIFO or socket."""
        kind = self.unix_mode & _S_IFMT
        return kind not in (0, _S_IFREG, _S_IFDIR, _S_IFLNK)


@dataclass(slots=True)
class ZipDirectory:
    """The result of :func:`read_directory`: entries in central-directory order plus problems."""

    entries: list[ZipEntry] = field(default_factory=list)
    problems: list[ZipProblem] = field(default_factory=list)
    prepended: int = 0
    """Bytes before the first local header (0 for an ordinary archive)."""
    ok: bool = True
    """False when no central directory could be read at all."""

    @property
    def names(self) -> list[str]:
        """Member names in central-directory order."""
        return [e.name for e in self.entries]


def find_eocd(buf: Buffer) -> int:
    """Offset of the end-of-central-directory record, or -1.

    Searches backwards through the last 64 KiB + 22 bytes (the largest possible comment) and
    prefers the last signature whose comment length fits the file; like miniz, it falls back to
    the last signature with room for the 22-byte record (trailing bytes after the record).
    """
    size = len(buf)
    if size < _EOCD.size:
        return -1
    start = max(0, size - _EOCD.size - _MAX_COMMENT)
    tail = bytes(buf[start:size])
    fallback = -1
    pos = len(tail)
    while pos > 0:
        pos = tail.rfind(EOCD_SIG, 0, pos)
        if pos < 0:
            break
        if pos + _EOCD.size <= len(tail):
            (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
            if pos + _EOCD.size + comment_len <= len(tail):
                return start + pos
            if fallback < 0:
                fallback = start + pos
    return fallback


def read_directory(
    buf: Buffer, *, max_members: int = 100_000, names_only: bool = False
) -> ZipDirectory:
    """Read the central directory of the zip archive in ``buf``; never raises on bad input.

    With ``names_only`` (format detection), local headers are not visited: entries carry
    ``data_offset == -1`` and no per-member problems are reported.
    """
    out = ZipDirectory()
    try:
        _read(buf, out, max_members, names_only)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:  # defensive
        out.problems.append(ZipProblem("fatal", f"zip structure unreadable: {exc}"))
        out.ok = False
    out.problems = _cap(out.problems)
    return out


MAX_REPEATS = 8
"""Problems with the same message are listed this many times, then summarised."""


def _cap(problems: list[ZipProblem]) -> list[ZipProblem]:
    seen: dict[tuple[str, str], int] = {}
    kept: list[ZipProblem] = []
    for problem in problems:
        key = (problem.kind, problem.message)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= MAX_REPEATS:
            kept.append(problem)
    for (kind, message), count in seen.items():
        if count > MAX_REPEATS:
            kept.append(ZipProblem(kind, f"{count - MAX_REPEATS} more members: {message}"))
    return kept


def _read(buf: Buffer, out: ZipDirectory, max_members: int, names_only: bool) -> None:
    size = len(buf)
    eocd = find_eocd(buf)
    if eocd < 0:
        out.ok = False
        out.problems.append(ZipProblem("fatal", "no end-of-central-directory record found"))
        return
    (_, disk, cd_disk, _n_disk, count, cd_size, cd_offset, _clen) = _EOCD.unpack(
        buf[eocd : eocd + _EOCD.size]
    )
    cd_end = eocd
    if disk or cd_disk:
        out.problems.append(ZipProblem("malformed", "multi-disk archive fields are set"))
    # miniz (torch) always writes a zip64 end record; the central directory ends where it starts.
    z64 = _read_zip64_eocd(buf, eocd)
    saturated = count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF
    if z64 is not None:
        z_count, z_size, z_offset, cd_end = z64
        if saturated:
            count, cd_size, cd_offset = z_count, z_size, z_offset
    elif saturated:
        out.problems.append(ZipProblem("malformed", "zip64 fields set without a zip64 record"))
    expected_start = cd_end - cd_size
    if expected_start < 0:
        out.ok = False
        out.problems.append(ZipProblem("fatal", "central directory size exceeds the file"))
        return
    base = expected_start - cd_offset
    if base < 0:
        # The directory claims to start after where it can; trust the offset if it points at
        # a central header (miniz does), else fail.
        base = 0
        if bytes(buf[cd_offset : cd_offset + 4]) != CENTRAL_SIG:
            out.ok = False
            out.problems.append(ZipProblem("fatal", "central directory offset is inconsistent"))
            return
    elif base > 0:
        out.prepended = base
        out.problems.append(
            ZipProblem(
                "malformed",
                f"{base} bytes are prepended before the zip archive; a loader reading the file "
                "from its start (torch.load, pickle) sees those bytes instead",
                offset=0,
            )
        )
    # miniz walks `count` entries; zipfile walks the directory's byte size. Read the union, so
    # an entry only one of them sees (a hidden extra entry, a short count) is still scanned.
    pos = base + cd_offset
    stop = pos + cd_size
    index = 0
    while True:
        if index >= count and pos >= stop:
            break
        if pos + _CENTRAL.size > size or bytes(buf[pos : pos + 4]) != CENTRAL_SIG:
            if index < count:
                out.problems.append(
                    ZipProblem(
                        "malformed",
                        f"central directory ends after {index} of {count} declared entries",
                        offset=pos,
                    )
                )
            break
        if index >= max_members:
            out.problems.append(
                ZipProblem(
                    "limit", f"archive has more than {max_members} members; the rest were not read"
                )
            )
            break
        entry, pos = _read_central(buf, pos, index, base, out, names_only)
        out.entries.append(entry)
        index += 1
    if index > count:
        out.problems.append(
            ZipProblem(
                "suspicious",
                f"central directory holds {index} entries but the end record declares {count}: "
                "miniz (torch) and zipfile (numpy, most tools) see different member lists",
            )
        )
    if not names_only:
        _check_overlaps(out)


def _read_zip64_eocd(buf: Buffer, eocd: int) -> tuple[int, int, int, int] | None:
    loc = eocd - _ZIP64_LOCATOR.size
    if loc < 0:
        return None
    sig, _disk, rec_offset, _disks = _ZIP64_LOCATOR.unpack(buf[loc:eocd])
    if sig != ZIP64_LOCATOR_SIG:
        return None
    # The record normally sits right before the locator; prepended data shifts rec_offset.
    rec = loc - _ZIP64_EOCD.size
    candidates = [rec, rec_offset]
    for start in candidates:
        if start >= 0 and start + _ZIP64_EOCD.size <= len(buf):
            fields = _ZIP64_EOCD.unpack(buf[start : start + _ZIP64_EOCD.size])
            if fields[0] == ZIP64_EOCD_SIG:
                count, cd_size, cd_offset = fields[7], fields[8], fields[9]
                return count, cd_size, cd_offset, start
    return None


def _decode_name(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def _read_central(
    buf: Buffer, pos: int, index: int, base: int, out: ZipDirectory, names_only: bool = False
) -> tuple[ZipEntry, int]:
    (
        _sig,
        made_by,
        _needed,
        flags,
        method,
        _time,
        _date,
        crc,
        csize,
        usize,
        name_len,
        extra_len,
        comment_len,
        _disk,
        _iattr,
        eattr,
        header_offset,
    ) = _CENTRAL.unpack(buf[pos : pos + _CENTRAL.size])
    name_start = pos + _CENTRAL.size
    raw_name = bytes(buf[name_start : name_start + name_len])
    extra = bytes(buf[name_start + name_len : name_start + name_len + extra_len])
    next_pos = name_start + name_len + extra_len + comment_len
    name = _decode_name(raw_name)
    if 0xFFFFFFFF in (csize, usize, header_offset):
        usize, csize, header_offset = _apply_zip64_extra(extra, usize, csize, header_offset)
    lho = base + header_offset
    if names_only:
        data_offset = -1
    else:
        data_offset = _local_data_offset(buf, lho, raw_name, name, flags, method, out)
    if flags & ~_ORDINARY_FLAGS & 0xFFFF:
        out.problems.append(
            ZipProblem(
                "malformed",
                f"member has unusual general-purpose flag bits 0x{flags:04x} "
                "(torch ignores them; strict readers refuse the member)",
                member=name,
                offset=pos,
            )
        )
    entry = ZipEntry(
        index=index,
        name=name,
        raw_name=raw_name,
        method=method,
        flags=flags,
        crc=crc,
        compressed_size=csize,
        uncompressed_size=usize,
        header_offset=lho,
        data_offset=data_offset,
        external_attr=eattr,
        create_system=made_by >> 8,
    )
    if data_offset >= 0 and data_offset + csize > len(buf):
        out.problems.append(
            ZipProblem(
                "malformed",
                "member data runs past the end of the file (truncated archive)",
                member=name,
                offset=data_offset,
            )
        )
    return entry, next_pos


def _apply_zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            fields = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            values = iter(fields)
            if usize == 0xFFFFFFFF:
                usize = next(values, usize)
            if csize == 0xFFFFFFFF:
                csize = next(values, csize)
            if offset == 0xFFFFFFFF:
                offset = next(values, offset)
            break
        pos += 4 + length
    return usize, csize, offset


def _local_data_offset(
    buf: Buffer, lho: int, raw_name: bytes, name: str, flags: int, method: int, out: ZipDirectory
) -> int:
    if lho < 0 or lho + _LOCAL.size > len(buf):
        out.problems.append(
            ZipProblem("malformed", "local header offset is outside the file", member=name)
        )
        return -1
    fields = _LOCAL.unpack(buf[lho : lho + _LOCAL.size])
    sig, _needed, lflags, lmethod = fields[0], fields[1], fields[2], fields[3]
    name_len, extra_len = fields[9], fields[10]
    if sig != LOCAL_SIG:
        out.problems.append(
            ZipProblem("malformed", "local header signature is missing", member=name, offset=lho)
        )
        return -1
    local_name = bytes(buf[lho + _LOCAL.size : lho + _LOCAL.size + name_len])
    if local_name != raw_name:
        out.problems.append(
            ZipProblem(
                "suspicious",
                "local header names the member differently from the central directory "
                "(torch uses the central name; strict readers refuse the member)",
                member=name,
                offset=lho,
                evidence=f"local name {_decode_name(local_name)!r}",
            )
        )
    if lmethod != method or (lflags ^ flags) & ~FLAG_DATA_DESCRIPTOR & 0xFFFF:
        out.problems.append(
            ZipProblem(
                "malformed",
                "local header disagrees with the central directory on method or flags",
                member=name,
                offset=lho,
            )
        )
    return int(lho + _LOCAL.size + name_len + extra_len)


def _check_overlaps(out: ZipDirectory) -> None:
    spans = sorted(
        (
            (e.header_offset, e.data_offset + e.compressed_size, e.index)
            for e in out.entries
            if e.data_offset >= 0
        ),
    )
    by_index = {e.index: e for e in out.entries}
    reported = 0
    for (_s1, end1, i1), (start2, _e2, i2) in itertools.pairwise(spans):
        first, second = by_index[i1], by_index[i2]
        if start2 < end1:
            out.problems.append(
                ZipProblem(
                    "bomb",
                    "member data overlaps another member (overlapping-files zip bomb or "
                    "a crafted archive where two names share bytes)",
                    member=second.name,
                    offset=start2,
                    evidence=f"overlaps {first.name!r}",
                )
            )
            reported += 1
            if reported >= 8:
                break


def member_chunks(buf: Buffer, entry: ZipEntry, *, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Yield the raw (still compressed) bytes of ``entry`` as miniz would read them.

    Exactly ``compressed_size`` bytes from the data offset (less when the file is truncated);
    nothing is read for an entry whose data position is unknown.
    """
    if entry.data_offset < 0:
        return
    end = min(len(buf), entry.data_offset + entry.compressed_size)
    drop = isinstance(buf, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED")
    for pos in range(entry.data_offset, end, chunk):
        yield bytes(buf[pos : min(end, pos + chunk)])
        if drop and chunk >= mmap.PAGESIZE:
            assert isinstance(buf, mmap.mmap)
            aligned = pos - pos % mmap.PAGESIZE
            with suppress(OSError, ValueError):  # consumed pages need not stay resident
                buf.madvise(mmap.MADV_DONTNEED, aligned, min(end, pos + chunk) - aligned)


METHOD_CODECS: dict[int, str] = {STORED: "stored", DEFLATED: "deflate", BZIP2: "bz2"}
"""Zip compression method -> codec name understood by :class:`~.streams.Inflater`."""


def classify_names(names: list[str]) -> F:
    """Zip flavour from its member names (torch zip, TorchScript, npz, Keras or plain zip)."""
    if any(n.endswith("data.pkl") or n.endswith(".data/version") for n in names):
        if any("/code/" in f"/{n}" or n.endswith("constants.pkl") for n in names):
            return F.TORCHSCRIPT
        return F.PYTORCH_ZIP
    if names and all(n.endswith(".npy") for n in names):
        return F.NUMPY_ZIP
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return F.KERAS
    if "schema.json" in names:
        return F.SKOPS  # skops.io.dump (mlchain issue #14, item 8)
    return F.ZIP


def is_code_member(name: str) -> bool:
    """Whether ``torch.jit.load`` or the mobile loader reads ``name`` as code or bytecode."""
    return ("/code/" in f"/{name}" and name.endswith(".py")) or name.endswith("bytecode.pkl")


def classify_zip_buffer(buf: Buffer, max_members: int = 100_000) -> F:
    """Zip flavour of the archive in ``buf`` (plain ``ZIP`` when it cannot be read)."""
    directory = read_directory(buf, max_members=max_members, names_only=True)
    return classify_names(directory.names) if directory.ok else F.ZIP
