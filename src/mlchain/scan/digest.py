"""The sha256 of a walked file, for the content-addressed cache (here or on Ray workers)."""

from __future__ import annotations

import hashlib

from mlchain.scan.walk import Entry


def file_digest(entry: Entry) -> str | None:
    """The sha256 of ``entry``'s content, or ``None`` when it cannot be read."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    try:
        with entry.path.open("rb", buffering=0) as handle:
            while n := handle.readinto(buffer):
                digest.update(view[:n])
    except OSError:
        return None
    return digest.hexdigest()
