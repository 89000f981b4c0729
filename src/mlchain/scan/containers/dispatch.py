"""Route a buffer to the right container handler, recursively, within the nesting limit.

Top-level files are memory-mapped and handed to :func:`scan_buffer` with the format detection
found; nested content (archive members, decompressed streams) is classified by the same magic
table (:mod:`mlchain.scan.magic`) and routed the same way, one level deeper. The router hands
itself down in :class:`~mlchain.scan.containers.common.State`, so no handler imports this module.
Every handler yields findings and never raises on hostile content.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location
from mlchain.scan import magic
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.containers.buffer import Buf, mapped
from mlchain.scan.containers.common import State, nested_format
from mlchain.scan.containers.pickles import scan_pickle_stream
from mlchain.scan.containers.zipscan import scan_zip

sniff = nested_format
"""Format of nested content (see :func:`mlchain.scan.containers.common.nested_format`)."""


def new_state() -> State:
    """Fresh per-file state with this module's router handed in."""
    return State(route=scan_buffer)


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
        yield from scan_pickle_stream(buf, location, ctx, depth=depth).findings
    elif fmt in (F.ZIP, F.PYTORCH_ZIP, F.TORCHSCRIPT, F.NUMPY_ZIP, F.KERAS, F.SKOPS):
        yield from scan_zip(buf, fmt, location, ctx, state, depth)
    # The rarer readers are imported when first met: a scan pays only for the formats it sees.
    elif fmt in (F.TAR, F.PYTORCH_TAR):
        from mlchain.scan.containers.tarscan import scan_tar

        yield from _pickle_in_front(buf, location, ctx, depth)
        yield from scan_tar(buf, fmt, location, ctx, state, depth)
    elif fmt is F.PYTORCH_LEGACY:
        from mlchain.scan.containers.legacy import scan_legacy

        yield from scan_legacy(buf, location, ctx, depth)
    elif fmt is F.NUMPY:
        from mlchain.scan.containers.npy import scan_npy

        yield from scan_npy(buf, location, ctx, state, depth)
    elif fmt in (F.GZIP, F.BZIP2, F.XZ, F.ZLIB):
        from mlchain.scan.containers.compressed import scan_compressed

        yield from scan_compressed(buf, fmt, location, ctx, state, depth)
    elif fmt is F.SEVEN_ZIP:
        from mlchain.scan.containers.compressed import seven_zip_finding

        yield seven_zip_finding(location)
    else:  # pragma: no cover - callers only route the formats above
        yield finding("not-scanned", f"nested {fmt.value} content was not scanned", location)


def _pickle_in_front(
    buf: Buf, location: Location, ctx: ScanContext, depth: int
) -> Iterator[Finding]:
    """A tar header is free text where a pickle loader starts reading (mlchain issue #13, class 6).

    ``tarfile`` (and torch's tar path) reads the archive; ``pickle.load`` of the same file runs
    the opcodes in the first header's name field. When those bytes start like a pickle, the VM
    reads them too; only what it finds is reported (a header that merely looks like a few
    opcodes is not a parse error).
    """
    if not magic.starts_with_pickle(magic.Probe.of_buffer(buf)):
        return
    result = scan_pickle_stream(buf, location, ctx, max_pickles=1, depth=depth)
    yield from (f for f in result.findings if f.rule_id != "parse-error")


def scan_nested(
    buf: Buf, location: Location, ctx: ScanContext, state: State, depth: int
) -> Iterator[Finding]:
    """Sniff ``buf`` (a member or decompressed stream) and scan it if it is a known container."""
    yield from state.nested(buf, location, ctx, depth)


class ContainerScanner:
    """Scanner for every container format of this package (one instance per format)."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> list[Finding]:
        """Return the findings for ``artifact``; malformed content becomes findings."""
        with mapped(artifact.path) as buf:
            return list(scan_buffer(buf, artifact.format, artifact.location, ctx, new_state(), 0))
