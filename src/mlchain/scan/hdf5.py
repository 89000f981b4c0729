"""Placeholder (replaced below in this branch)."""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding
from mlchain.scan.base import Artifact, ScanContext, finding


class Hdf5Scanner:
    """Reports the file as unsupported until the reader lands."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield model-unsupported."""
        del ctx
        yield finding("model-unsupported", "mlchain cannot read this format yet", artifact.location)
