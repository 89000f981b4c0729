"""The ground floor of the container readers: the buffer type, mapping a file, fixed-width ints.

Nothing here knows a format. Every reader and handler of :mod:`mlchain.scan.containers`, and
format detection in :mod:`mlchain.scan.magic`, stand on this module.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeAlias

Buf: TypeAlias = "bytes | bytearray | memoryview | mmap.mmap"
"""Anything the readers accept: a file map, a memory view of one, or bytes."""

SNIFF_BYTES = 64 * 1024
"""How much of a file or nested member detection looks at (decompressed, for a member)."""


@contextmanager
def mapped(path: Path) -> Iterator[Buf]:
    """Map ``path`` read-only (an empty file gives ``b""``)."""
    with path.open("rb") as handle:
        try:
            view: Buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            yield b""
            return
        try:
            yield view
        finally:
            assert isinstance(view, mmap.mmap)
            with suppress(BufferError):  # a slice outlived the scan; the GC releases it
                view.close()
