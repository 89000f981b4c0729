"""Files that are not model formats: plain text, images, unrecognised binaries.

Text and images are recognised as inert (no loader deserializes them). Anything else is reported
as not scanned: mlchain never calls an unknown binary clean.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding
from mlchain.scan.base import Artifact, ScanContext


class UnrecognisedContent(Exception):
    """Raised by :class:`InertScanner` to mark a file as not scanned."""


class InertScanner:
    """Accepts text and images; anything else becomes "not scanned: unrecognised content"."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield nothing for inert files; raise :class:`UnrecognisedContent` for the rest."""
        from mlchain.scan.detect import is_known_inert, read_head

        if not is_known_inert(artifact.path, read_head(artifact.path, 4096)):
            raise UnrecognisedContent("unrecognised content: no model format detected")
        return iter(())
