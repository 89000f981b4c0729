"""Tar archives, including PyTorch's oldest tar format.

That format has ``sys_info``, ``pickle``, ``storages`` and ``tensors`` members.

Members are listed by :mod:`.tarreader` (our own linear header walk; :mod:`tarfile` has a
quadratic pax parser on older Pythons, CVE-2024-6232) and nothing is extracted. Dangerous
members (absolute or ``..`` names, symbolic and hard links, devices) are findings; regular
members that are pickles or containers are scanned in place, one level deeper.
In the PyTorch tar format the ``storages`` and ``tensors`` members interleave small pickles with
raw tensor bytes: the walk scans each pickle and skips the raw bytes using the sizes torch reads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import suppress

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import SNIFF_BYTES, Buf
from mlchain.scan.containers.common import State, limit_notes, unscanned_note, worth_scanning
from mlchain.scan.containers.pickles import scan_pickle_stream, without_torch_storages
from mlchain.scan.containers.tarreader import SYMLINK, read_members
from mlchain.scan.containers.zipscan import suspicious_name

_ELEMENT_SIZES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "QUInt8Storage": 1,
    "QInt8Storage": 1,
    "QInt32Storage": 4,
}


def scan_tar(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Yield findings for a tar archive held in ``buf``."""
    yield from limit_notes(_scan_tar(buf, fmt, location, ctx, state, depth), location)


def _scan_tar(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    listing = read_members(buf, max_members=ctx.limits.max_members)
    members = listing.members
    if listing.error is not None:
        yield finding(
            "parse-error",
            f"tar archive could not be fully read after {len(members)} members",
            location,
            evidence=listing.error,
        )
    if listing.overflow:
        yield finding(
            "scan-limit-exceeded",
            f"tar archive has more than {ctx.limits.max_members} members; the rest were not read",
            location,
        )
    torch = fmt is F.PYTORCH_TAR
    for member in members:
        if ctx.out_of_time():
            yield finding("scan-limit-exceeded", "time limit reached; scan incomplete", location)
            return
        loc = location.with_member(member.name, member.offset)
        reason = suspicious_name(member.name)
        if reason is not None:
            yield finding("archive-suspicious-member", reason, loc, evidence=member.name)
        if member.is_link:
            kind = "symbolic" if member.type == SYMLINK else "hard"
            yield finding(
                "archive-suspicious-member",
                f"member is a {kind} link",
                loc,
                evidence=f"{member.name} -> {member.linkname}",
            )
            continue
        if member.is_device:
            yield finding("archive-suspicious-member", "member is a device or FIFO", loc)
            continue
        if member.sparse:
            yield finding("archive-unsupported", "sparse tar member was not scanned", loc)
            continue
        if not member.is_regular:
            continue
        start, end = member.data_offset, member.data_offset + member.size
        if end > len(buf):
            yield finding("parse-error", "tar member data is truncated", loc)
            end = len(buf)
        view = memoryview(buf)[start:end]
        try:
            yield from _scan_member(view, member.name, torch, loc, ctx, state, depth)
        finally:
            with suppress(BufferError):  # a finding kept a slice; the GC frees it
                view.release()


def _scan_member(
    view: memoryview,
    name: str,
    torch: bool,
    loc: Location,
    ctx: ScanContext,
    state: State,
    depth: int,
) -> Iterator[Finding]:
    if (torch and name in {"sys_info", "pickle"}) or name.lower().endswith((".pkl", ".pickle")):
        findings = scan_pickle_stream(view, loc, ctx, depth=depth).findings
        yield from without_torch_storages(findings) if torch else findings
    elif torch and name in {"storages", "tensors"}:
        yield from _walk_records(view, name, loc, ctx, depth)
    else:
        if name.endswith("model_config.yaml"):  # a .nemo archive (mlchain issue #14, item 8)
            from mlchain.scan.nemo import MAX_CONFIG_BYTES, check_config

            yield from check_config(bytes(view[: MAX_CONFIG_BYTES + 1]), loc)
        head = bytes(view[:SNIFF_BYTES])
        if worth_scanning(view):  # the whole member: detection may need its end
            yield from state.nested(view, loc, ctx, depth + 1)
        else:
            note = unscanned_note(head, loc)
            if note is not None:
                yield note


def small_int(data: bytes) -> int | None:
    """The value of a pickle holding only an integer, or ``None`` for anything else."""
    pos = 0
    if data[:1] == b"\x80":
        pos = 2
    op = data[pos : pos + 1]
    body = data[pos + 1 :]
    try:
        if op == b"K" and body[1:] == b".":
            return body[0]
        if op == b"M" and body[2:] == b".":
            return int(struct.unpack("<H", body[:2])[0])
        if op == b"J" and body[4:] == b".":
            return int(struct.unpack("<i", body[:4])[0])
        if op in (b"I", b"L") and body.endswith(b"\n."):
            return int(body[:-2].rstrip(b"L"))
        if op == b"\x8a" and body and body[1 + body[0] :] == b".":
            return int.from_bytes(body[1 : 1 + body[0]], "little", signed=True)
    except (ValueError, IndexError, struct.error):
        return None
    return None


def _walk_records(
    view: memoryview, name: str, loc: Location, ctx: ScanContext, depth: int
) -> Iterator[Finding]:
    """Scan the pickles of a torch tar ``storages``/``tensors`` member, skipping raw bytes."""
    size = len(view)
    first = scan_pickle_stream(view, loc, ctx, max_pickles=1, depth=depth)
    yield from first.findings
    count = small_int(bytes(view[: first.end])) if first.pickles else None
    pos = first.end
    problem: str | None = None
    if count is None or count < 0:
        problem = "record count is not an integer pickle"
    for _ in range(min(count or 0, ctx.limits.max_members)):
        if problem is not None or ctx.out_of_time():
            break
        per_record = 1 if name == "storages" else 2
        kinds: set[tuple[str, str]] = set()
        for _ in range(per_record):
            result = scan_pickle_stream(view, loc, ctx, start=pos, max_pickles=1, depth=depth)
            yield from result.findings
            if result.pickles < 1 or result.end <= pos:
                problem = "record pickle is missing or truncated"
                break
            kinds |= result.globals
            pos = result.end
        if problem is not None:
            break
        if name == "storages":
            sizes = [_ELEMENT_SIZES[n] for (_m, n) in kinds if n in _ELEMENT_SIZES]
            if len(sizes) != 1 or pos + 8 > size:
                problem = "storage record has no known storage type or size"
                break
            (numel,) = struct.unpack("<q", bytes(view[pos : pos + 8]))
            pos += 8 + max(numel, 0) * sizes[0]
        else:
            if pos + 8 > size:
                problem = "tensor record is truncated"
                break
            (ndim,) = struct.unpack("<i", bytes(view[pos : pos + 4]))
            if not 0 <= ndim <= 64:
                problem = "tensor record has an impossible number of dimensions"
                break
            pos += 8 + 16 * ndim + 8
        if pos > size:
            problem = "raw data runs past the end of the member"
    if problem is not None:
        yield finding(
            "parse-error",
            f"torch tar '{name}' member: {problem}; the rest was scanned as pickles",
            loc,
        )
        if pos < size:
            rest = scan_pickle_stream(view, loc, ctx, start=pos, depth=depth)
            yield from rest.findings
