"""The registered scanner for raw pickle streams (``.pkl``, ``.bin`` pickles, joblib files)."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

from mlchain.models import Finding, Location
from mlchain.scan.base import Artifact, ScanContext
from mlchain.scan.pickle.vm import scan_pickle


def legacy_torch_file(
    buf: memoryview, location: Location, ctx: ScanContext, depth: int
) -> list[Finding] | None:
    """Read bytes handed to a nested ``torch.load`` as the legacy torch file they may be.

    ``pickle.dumps`` of a tensor reduces its storage through ``torch.storage._load_from_bytes``
    with a whole legacy ``torch.save`` file (five pickles, then raw storage bytes); the
    container reader scans it as torch reads it. ``None``: not a legacy torch file.
    """
    from mlchain.scan.containers.legacy import is_legacy_torch, scan_legacy

    if not is_legacy_torch(bytes(buf[:64])):
        return None
    return list(scan_legacy(buf, location, ctx, depth))


class PickleScanner:
    """Maps the file read-only and runs the symbolic VM over every pickle in it."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield the VM's findings for ``artifact``; the file is never modified or loaded."""
        if artifact.head and len(artifact.head) == artifact.size:
            # Small files were read whole by detection: no second open, no mmap.
            yield from scan_pickle(
                artifact.head, artifact.location, ctx, torch_file=legacy_torch_file
            ).findings
            return
        with artifact.path.open("rb") as handle:
            size = artifact.path.stat().st_size
            if size == 0:
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                result = scan_pickle(view, artifact.location, ctx, torch_file=legacy_torch_file)
        yield from result.findings
