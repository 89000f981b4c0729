"""Zip-family containers: PyTorch zip archives, TorchScript, NumPy ``.npz`` and plain zip files.

Members are found through :mod:`.zipreader` (torch's view of the archive). Every member a loader
could unpickle is scanned: ``.pkl`` members anywhere, ``.npy`` members, and any member whose
bytes sniff as a pickle or a nested container (CVE-2025-1889: pickles with unusual names).
Tensor storages (``<archive>/data/<key>``) are never read. Irregularities torch tolerates but
strict readers reject (bad CRC, flag bits, name mismatch, prepended data) are findings *and* the
member is still scanned, so those tricks no longer hide a payload.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import SNIFF_BYTES, Buf
from mlchain.scan.containers.common import (
    State,
    limit_notes,
    nested_format,
    unscanned_note,
    worth_scanning,
)
from mlchain.scan.containers.legacy import scan_legacy
from mlchain.scan.containers.npy import scan_npy
from mlchain.scan.containers.pickles import scan_pickle_stream, without_torch_storages
from mlchain.scan.containers.streams import (
    RATIO_FLOOR,
    CorruptStream,
    Inflater,
    LimitHit,
    TimeUp,
    head_of,
    spool,
)
from mlchain.scan.containers.zipreader import (
    FLAG_ENCRYPTED,
    FLAG_STRONG_ENCRYPTION,
    METHOD_CODECS,
    STORED,
    ZipDirectory,
    ZipEntry,
    ZipProblem,
    is_code_member,
    member_chunks,
    read_directory,
)
from mlchain.scan.magic import LZ4_MAGIC

_PROBLEM_RULES = {
    "malformed": "archive-malformed",
    "suspicious": "archive-suspicious-member",
    "bomb": "archive-bomb",
    "limit": "scan-limit-exceeded",
    "fatal": "parse-error",
}


def suspicious_name(name: str) -> str | None:
    """Why an archive member name is dangerous to extract, or ``None``."""
    if "\x00" in name:
        return "member name contains a NUL byte"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":" and norm[0].isalpha()):
        return "member has an absolute path"
    if ".." in norm.split("/"):
        return "member name climbs out with '..' (zip slip)"
    return None


def problem_finding(problem: ZipProblem, location: Location) -> Finding:
    """Turn a reader problem into a finding at ``location`` (or its member)."""
    loc = location
    if problem.member is not None:
        loc = location.with_member(problem.member, problem.offset)
    elif problem.offset is not None:
        loc = location.at(problem.offset)
    return finding(_PROBLEM_RULES[problem.kind], problem.message, loc, evidence=problem.evidence)


def _is_storage(entry: ZipEntry, prefix: str) -> bool:
    parts = entry.name.split("/")
    return len(parts) == 3 and parts[0] == prefix and parts[1] in {"data", "constants"}


_PICKLE_KINDS = ("pickle", "torch-pickle", "jit-pickle")

_JIT_NATIVE = ("__torch__.", "torch.jit._pickle.")
"""Globals torch's C++ TorchScript unpickler resolves itself (compiled classes, list builders)."""

_GLOBAL_RULES = frozenset(
    {
        "pickle-dangerous-call",
        "pickle-dangerous-import",
        "pickle-unknown-call",
        "pickle-unknown-import",
        "pickle-class-reconstruction",
    }
)


def _member_kind(entry: ZipEntry, fmt: F, jit: bool) -> str:
    name = entry.name.lower()
    if name.endswith((".pkl", ".pickle", ".debug_pkl")):
        if jit:
            return "jit-pickle"
        return "torch-pickle" if fmt in (F.PYTORCH_ZIP, F.TORCHSCRIPT) else "pickle"
    if fmt is F.NUMPY_ZIP or name.endswith(".npy"):
        return "npy"
    return "sniff"


def _jit_native(f: Finding) -> bool:
    return f.rule_id in _GLOBAL_RULES and (f.evidence or "").startswith(_JIT_NATIVE)


def scan_zip(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Yield findings for a zip-family archive held in ``buf``."""
    yield from limit_notes(_scan_zip(buf, fmt, location, ctx, state, depth), location)


def _scan_zip(
    buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    directory = read_directory(buf, max_members=ctx.limits.max_members)
    for problem in directory.problems:
        yield problem_finding(problem, location)
    if not directory.ok:
        return
    if directory.prepended:
        yield from _scan_prepended(buf, directory, location, ctx, state, depth)
    yield from _declared_bomb(buf, directory, location, ctx)
    entries = directory.entries
    prefix = entries[0].name.split("/", 1)[0] if entries else ""
    is_torch = fmt in (F.PYTORCH_ZIP, F.TORCHSCRIPT)
    # torch.load hands archives with <prefix>/constants.pkl to torch.jit.load, whose C++
    # unpickler resolves only torch's own globals and TorchScript classes, never Python imports.
    jit = is_torch and any(e.name == f"{prefix}/constants.pkl" for e in entries)
    if any(is_code_member(e.name) for e in entries):  # mlchain issue #14, item 1
        from mlchain.scan.torchscript import scan_archive_code

        yield from scan_archive_code(buf, entries, location)
    counts = Counter(e.raw_name for e in entries)
    for raw, n in counts.items():
        if n > 1:
            yield finding(
                "archive-suspicious-member",
                f"{n} members share one name; loaders and scanners may read different ones "
                "(all were scanned)",
                location.with_member(raw.decode("utf-8", "backslashreplace")),
            )
    for entry in entries:
        if ctx.out_of_time():
            if not state.timed_out:
                state.timed_out = True
                yield finding(
                    "scan-limit-exceeded", "time limit reached; scan incomplete", location
                )
            return
        member_loc = location.with_member(entry.name)
        reason = suspicious_name(entry.name)
        if reason is not None:
            yield finding("archive-suspicious-member", reason, member_loc, evidence=entry.name)
        if entry.is_symlink or entry.is_special:
            kind = "a symbolic link" if entry.is_symlink else "a device or special file"
            yield finding("archive-suspicious-member", f"member is {kind}", member_loc)
            continue
        if entry.is_dir or (is_torch and _is_storage(entry, prefix)):
            continue  # tensor storages are never read
        if (
            entry.uncompressed_size > RATIO_FLOOR
            and entry.uncompressed_size > ctx.limits.max_ratio * max(entry.compressed_size, 1)
        ):
            yield finding(
                "archive-bomb",
                f"member declares a {entry.uncompressed_size}-byte expansion of "
                f"{entry.compressed_size} bytes (over {ctx.limits.max_ratio}:1)",
                member_loc,
            )
            continue
        kind = _member_kind(entry, fmt, jit)
        yield from _scan_member(buf, entry, kind, member_loc, ctx, state, depth)


def _scan_prepended(
    buf: Buf,
    directory: ZipDirectory,
    location: Location,
    ctx: ScanContext,
    state: State,
    depth: int,
) -> Iterator[Finding]:
    # torch.load sees no zip magic at offset 0 and unpickles the file from its start; pickle
    # loaders read on past the prepended part, so a pickle there is scanned over the whole file.
    head = memoryview(buf)[: directory.prepended]
    try:
        kind = nested_format(head)
        if kind is F.PYTORCH_LEGACY:
            yield from scan_legacy(buf, location, ctx, depth)
        elif kind is F.PICKLE:
            yield from scan_pickle_stream(buf, location, ctx, depth=depth).findings
        elif kind is not None:
            yield from state.route(head, kind, location.at(0), ctx, state, depth + 1)
        elif bytes(head[:4]) == LZ4_MAGIC:
            yield from state.nested(head, location.at(0), ctx, depth + 1)
    finally:
        with suppress(BufferError):
            head.release()


def _declared_bomb(
    buf: Buf, directory: ZipDirectory, location: Location, ctx: ScanContext
) -> Iterator[Finding]:
    total = sum(e.uncompressed_size for e in directory.entries)
    if total > RATIO_FLOOR and total > ctx.limits.max_ratio * max(len(buf), 1):
        yield finding(
            "archive-bomb",
            f"archive of {len(buf)} bytes declares {total} bytes of content "
            f"(over {ctx.limits.max_ratio}:1)",
            location,
        )


def _scan_member(
    buf: Buf,
    entry: ZipEntry,
    kind: str,
    loc: Location,
    ctx: ScanContext,
    state: State,
    depth: int,
) -> Iterator[Finding]:
    codec = METHOD_CODECS.get(entry.method)
    if entry.data_offset < 0:
        return  # already reported by the reader
    if codec is None:
        yield finding(
            "archive-unsupported",
            f"member uses compression method {entry.method}, which mlchain cannot decompress; "
            "it was not scanned",
            loc,
        )
        return
    if entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION):
        # miniz refuses encrypted members, but a loader holding the password does not; the
        # bytes are still scanned as stored below in case the flag is a decoy. A member a
        # loader would unpickle fails the default gate (medium: no stock loader can open it,
        # a custom one with the password could); any other member is only "not scanned"
        # (mlchain issue #14, item 5).
        unpickled = kind in _PICKLE_KINDS or kind == "npy"
        yield finding(
            "archive-unsupported" if unpickled else "not-scanned",
            "member is marked encrypted; its real content cannot be inspected",
            loc,
            severity=Severity.MEDIUM if unpickled else None,
        )
    if kind == "sniff":
        try:
            head = head_of(
                Inflater(codec),
                member_chunks(buf, entry, chunk=SNIFF_BYTES),
                SNIFF_BYTES,
                max_ratio=ctx.limits.max_ratio,
            )
        except LimitHit as exc:
            yield finding("archive-bomb", f"member {exc}", loc)
            return
        except CorruptStream as exc:
            yield finding("parse-error", "member data is corrupt", loc, evidence=str(exc))
            return
        cut = len(head) >= SNIFF_BYTES
        if not worth_scanning(head, cut=cut):
            if not cut:
                note = unscanned_note(head, loc)
                if note is not None:
                    yield note
                return
            # Longer than the head: only the whole member shows a zip directory at its end.
            kind = "sniff-whole"
    is_pickle = kind in _PICKLE_KINDS
    limit = ctx.limits.max_pickle_bytes if is_pickle else ctx.limits.max_decompressed_bytes
    if entry.method == STORED:
        yield from _scan_stored(buf, entry, kind, loc, ctx, state, depth, limit)
        return
    budget = ctx.limits.max_decompressed_bytes - state.decompressed
    inflater = Inflater(codec)
    try:
        sp = spool(
            inflater,
            member_chunks(buf, entry),
            max_bytes=min(limit, budget),
            max_ratio=ctx.limits.max_ratio,
            out_of_time=ctx.out_of_time,
        )
    except LimitHit as exc:
        state.decompressed += exc.produced
        if isinstance(exc, TimeUp):
            yield finding("scan-limit-exceeded", f"member: {exc}; not scanned", loc)
        elif is_pickle and limit < budget and exc.produced > limit:
            yield finding("scan-limit-exceeded", f"pickle member {exc}; not scanned", loc)
        else:
            yield finding("archive-bomb", f"member {exc}; not scanned further", loc)
        return
    except CorruptStream as exc:
        yield finding("parse-error", "member data is corrupt", loc, evidence=str(exc))
        return
    with sp:
        state.decompressed += sp.size
        view = sp.view()
        yield from _check_integrity(entry, view, sp.size, inflater.finished, loc)
        yield from _dispatch_member(view, kind, loc, ctx, state, depth)
        del view


def _scan_stored(
    buf: Buf,
    entry: ZipEntry,
    kind: str,
    loc: Location,
    ctx: ScanContext,
    state: State,
    depth: int,
    limit: int,
) -> Iterator[Finding]:
    end = min(len(buf), entry.data_offset + entry.compressed_size)
    if end - entry.data_offset > limit:
        yield finding(
            "scan-limit-exceeded", f"member is larger than {limit} bytes; not scanned", loc
        )
        return
    view = memoryview(buf)[entry.data_offset : end]
    try:
        yield from _check_integrity(entry, view, len(view), True, loc)
        yield from _dispatch_member(view, kind, loc, ctx, state, depth)
    finally:
        with suppress(BufferError):  # a finding kept a slice; the GC frees it
            view.release()


def _check_integrity(
    entry: ZipEntry, data: Buf, size: int, finished: bool, loc: Location
) -> Iterator[Finding]:
    if not finished:
        yield finding("parse-error", "member's compressed data ends early (truncated)", loc)
        return
    if size != entry.uncompressed_size:
        yield finding(
            "archive-malformed",
            f"member holds {size} bytes but the central directory declares "
            f"{entry.uncompressed_size}",
            loc,
        )
    crc = zlib.crc32(data) & 0xFFFFFFFF
    if crc != entry.crc:
        yield finding(
            "archive-malformed",
            "member CRC-32 does not match its data (torch does not check CRCs; strict readers "
            "refuse the member)",
            loc,
            evidence=f"declared {entry.crc:08x}, actual {crc:08x}",
        )


def _dispatch_member(
    view: Buf, kind: str, loc: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    if kind in _PICKLE_KINDS:
        findings = scan_pickle_stream(view, loc, ctx, depth=depth).findings
        if kind != "pickle":
            findings = without_torch_storages(findings)
        if kind == "jit-pickle":
            findings = [f for f in findings if not _jit_native(f)]
        yield from findings
    elif kind == "npy":
        yield from scan_npy(view, loc, ctx, state, depth)
    elif kind == "sniff-whole" and not worth_scanning(view):
        note = unscanned_note(bytes(view[:SNIFF_BYTES]), loc)
        if note is not None:
            yield note
    else:
        yield from state.nested(view, loc, ctx, depth + 1)
