"""Open an input file safely: regular files only, never a blocking open, never an endless read.

Every small input mlchain reads by path (signature and attestation bundles, policies, keys,
certificate chains, trust configurations) goes through :func:`read_regular_file`. A FIFO placed
at ``model.sig`` would otherwise block ``open()`` until a writer appears (mlchain issue #15,
item 7), and a link to ``/dev/zero`` would read forever. The file is opened with ``O_NONBLOCK``
(a FIFO opens at once), its type is checked on the *descriptor* (no check-then-open race), and at
most ``limit`` bytes are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFileError(ValueError):
    """The input is a FIFO, socket, device or directory, not a regular file."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def special_file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (links followed), else ``None``."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else _kind(mode)


def read_regular_file(path: Path, *, limit: int) -> bytes:
    """Return the content of the regular file at ``path``, refusing anything else.

    Args:
        path: the file (symbolic links are followed; the *target* must be a regular file).
        limit: the largest size accepted, in bytes.

    Raises:
        OSError: the file cannot be opened or read (``FileNotFoundError`` when it is missing).
        NotRegularFileError: it is a FIFO, socket, device or directory (never read).
        ValueError: it is larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path} is larger than {limit} bytes")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew while being read
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data
