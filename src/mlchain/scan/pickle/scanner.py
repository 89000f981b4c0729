"""The registered scanner for raw pickle streams (``.pkl``, ``.bin`` pickles, joblib files)."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

from mlchain.models import Finding
from mlchain.scan.base import Artifact, ScanContext
from mlchain.scan.pickle.vm import scan_pickle


class PickleScanner:
    """Maps the file read-only and runs the symbolic VM over every pickle in it."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield the VM's findings for ``artifact``; the file is never modified or loaded."""
        if artifact.head and len(artifact.head) == artifact.size:
            # Small files were read whole by detection: no second open, no mmap.
            yield from scan_pickle(artifact.head, artifact.location, ctx).findings
            return
        with artifact.path.open("rb") as handle:
            size = artifact.path.stat().st_size
            if size == 0:
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                result = scan_pickle(view, artifact.location, ctx)
        yield from result.findings
