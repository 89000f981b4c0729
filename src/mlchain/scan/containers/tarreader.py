"""A bounded tar header reader (ustar, GNU long names, pax), linear in the input.

Python's :mod:`tarfile` parses pax headers with regular expressions that backtrack
quadratically on hostile input (CVE-2024-6232; unpatched before Python 3.11.10/3.12.6): a tar
of a few hundred kilobytes stalls a scanner for minutes, and the scan deadline cannot interrupt
it. This reader walks the 512-byte headers itself, never reads member data, and reports what a
loader built on :mod:`tarfile` would see: it stops where tarfile stops (the first invalid header
after the first member) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.buffer import Buf as Buffer

BLOCK = 512

REGULAR = frozenset({b"0", b"\x00", b"7"})
HARDLINK = b"1"
SYMLINK = b"2"
CHARDEV = b"3"
BLOCKDEV = b"4"
DIRECTORY = b"5"
FIFO = b"6"
_GNU_LONGNAME = b"L"
_GNU_LONGLINK = b"K"
_GNU_SPARSE = b"S"
_PAX_LOCAL = b"x"
_PAX_GLOBAL = b"g"
_META = frozenset({_GNU_LONGNAME, _GNU_LONGLINK, _PAX_LOCAL, _PAX_GLOBAL})


@dataclass(frozen=True, slots=True)
class TarMember:
    """One member header (data is never read here)."""

    name: str
    linkname: str
    type: bytes
    size: int
    offset: int
    """Offset of the member's header (its first meta header, if any)."""
    data_offset: int
    sparse: bool = False

    @property
    def is_regular(self) -> bool:
        """Whether the member is a regular file."""
        return self.type in REGULAR

    @property
    def is_link(self) -> bool:
        """Whether the member is a symbolic or hard link."""
        return self.type in (SYMLINK, HARDLINK)

    @property
    def is_device(self) -> bool:
        """Whether the member is a character/block device or a FIFO."""
        return self.type in (CHARDEV, BLOCKDEV, FIFO)


@dataclass(slots=True)
class TarListing:
    """Members found, plus why reading stopped early (``None`` for a clean end)."""

    members: list[TarMember] = field(default_factory=list)
    error: str | None = None
    overflow: bool = False


class _BadHeader(Exception):
    pass


def _number(field_bytes: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 when the high bit is set."""
    if field_bytes[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:
            value -= 1 << (8 * (len(field_bytes) - 1))
        return value
    text = field_bytes.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _BadHeader("numeric field is not octal") from None


def _text(field_bytes: bytes) -> str:
    return field_bytes.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 0x20
    return stored in (unsigned, signed)


def _pax_records(data: bytes) -> dict[str, str]:
    """Pax records (``length keyword=value`` lines), parsed by their length fields, no regex."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 24)
        if space < 0:
            if data[pos:].strip(b"\x00\n"):
                raise _BadHeader("pax header holds bytes that are no record")
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _BadHeader("pax record length is not a number") from None
        if length <= 0 or pos + length > len(data):
            raise _BadHeader("pax record length is out of range")
        record = data[space + 1 : pos + length]
        key, sep, value = record.rstrip(b"\n").partition(b"=")
        if not sep:
            raise _BadHeader("pax record has no '='")
        records[key.decode("utf-8", "backslashreplace")] = value.decode("utf-8", "backslashreplace")
        pos += length
    return records


def read_members(buf: Buffer, *, max_members: int, max_meta: int = 1 << 20) -> TarListing:
    """List the members of the tar archive in ``buf``; never raises on hostile input.

    ``max_meta`` bounds the size of one GNU long-name or pax header.
    """
    out = TarListing()
    size = len(buf)
    pos = 0
    pending: dict[str, str] = {}
    first_meta = -1
    while pos + BLOCK <= size:
        block = bytes(buf[pos : pos + BLOCK])
        if block == bytes(BLOCK):
            return out  # end-of-archive marker
        try:
            if not _checksum_ok(block):
                raise _BadHeader("header checksum mismatch")
            member_size = _number(block[124:136])
            if member_size < 0:
                raise _BadHeader("negative member size")
        except _BadHeader as exc:
            out.error = f"{exc} at offset {pos}; readers built on tarfile stop here"
            return out
        kind = block[156:157]
        data_offset = pos + BLOCK
        next_pos = data_offset + (member_size + BLOCK - 1) // BLOCK * BLOCK
        if kind in _META:
            if member_size > max_meta:
                out.error = f"meta header of {member_size} bytes exceeds {max_meta} at {pos}"
                return out
            data = bytes(buf[data_offset : data_offset + member_size])
            first_meta = pos if first_meta < 0 else first_meta
            try:
                if kind == _GNU_LONGNAME:
                    pending["path"] = _text(data)
                elif kind == _GNU_LONGLINK:
                    pending["linkpath"] = _text(data)
                elif kind == _PAX_LOCAL:
                    pending.update(_pax_records(data))
            except _BadHeader as exc:
                out.error = f"{exc} at offset {pos}"
                return out
            pos = next_pos
            continue
        if len(out.members) >= max_members:
            out.overflow = True
            return out
        name = _text(block[0:100])
        prefix = _text(block[345:500]) if block[257:262] == b"ustar" else ""
        if prefix and block[257:263] == b"ustar\x00":
            name = f"{prefix}/{name}"
        name = pending.get("path", name)
        if kind == DIRECTORY:
            name = name.rstrip("/")  # as tarfile reports directories
        if "size" in pending:
            try:
                member_size = int(pending["size"])
            except ValueError:
                out.error = f"pax size is not a number at offset {pos}"
                return out
            next_pos = data_offset + (member_size + BLOCK - 1) // BLOCK * BLOCK
        sparse = kind == _GNU_SPARSE or any(k.startswith("GNU.sparse.") for k in pending)
        out.members.append(
            TarMember(
                name=name,
                linkname=pending.get("linkpath", _text(block[157:257])),
                type=kind,
                size=member_size,
                offset=first_meta if first_meta >= 0 else pos,
                data_offset=data_offset,
                sparse=sparse,
            )
        )
        pending = {}
        first_meta = -1
        pos = next_pos
    if pos < size and out.members:
        out.error = f"archive ends inside a header at offset {pos}"
    elif not out.members and size:
        out.error = "no tar header found"
    return out


def looks_like_tar_header(block: bytes) -> bool:
    """Whether ``block`` is a tar header :mod:`tarfile` accepts as the first one.

    ``tarfile`` (and so ``torch.load``'s legacy tar path) checks the header checksum, not the
    ``ustar`` magic: a pre-POSIX (v7) header without the magic opens just the same.
    """
    if len(block) < BLOCK or block[:BLOCK].count(0) == BLOCK:
        return False
    try:
        return _checksum_ok(bytes(block[:BLOCK]))
    except _BadHeader:
        return False


TORCH_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages"})
"""Members of PyTorch's oldest (tar) serialization format."""


def classify_tar_buffer(buf: Buffer) -> F:
    """``PYTORCH_TAR`` for torch's legacy tar layout, else ``TAR``."""
    listing = read_members(buf, max_members=64)
    return F.PYTORCH_TAR if {m.name for m in listing.members} >= TORCH_TAR_MEMBERS else F.TAR
