"""Each file of a model opened once, and every later reader handed that same open file.

The deploy gate hashes a model (signature, attestation subjects), then scans it. Re-opening each
file by name for the scan let a writer of the model folder swap a file between the hash and the
scan (mlchain issue #15, item 5), and read every file a second time (issue #19, item 7). While a
:class:`PinnedFiles` is active (:func:`pinned`), the gate's hashing and scanning both read each
file through the one descriptor opened here: a rename over the path changes nothing that is read,
and a write into the file itself changes its ``ctime``, which :meth:`PinnedFiles.changed` reports.

Readers do not need to know: the scanner opens ``artifact.path``, and a :class:`PinnedPath` is a
``Path`` (same name, parent, suffix) whose ``open``/``stat`` use the pinned descriptor. Every
handle it opens reads at an offset of its own (:class:`PinnedFile`). Outside the gate, ``mlchain
scan`` uses the same class for one file at a time: its walk builds ``PinnedPath`` objects, and
each file's descriptor is set while that file is scanned (:mod:`mlchain.scan`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat as stat_module
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import PosixPath
from typing import IO, Any

Stamp = tuple[int, int, int, int, int]
"""``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``."""

_ACTIVE: ContextVar[PinnedFiles | None] = ContextVar("mlchain_pinned", default=None)

MAX_PINNED = 4096
"""Most files pinned at once (each holds a descriptor); a larger model is read by name, and the
gate's change-stamp check still guards it."""


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class PinnedPath(PosixPath):
    """A path whose ``open`` and ``stat`` read a descriptor opened earlier, never the name."""

    __slots__ = ("_pinned_fd",)  # no instance dict: the walk builds one per file
    _pinned_fd: int | None

    def open(  # type: ignore[override]
        self,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        """Open the pinned file for reading: each handle has its own offset, starting at 0.

        Handles never share an offset (a ``dup`` would): a scanner that opens the file again
        while it still reads it, at any depth, cannot move the other reader.
        """
        fd = getattr(self, "_pinned_fd", None)
        if fd is None:
            return super().open(mode, buffering, encoding, errors, newline)
        if mode != "rb" and not set(mode) <= _READ_MODES:
            raise PermissionError(f"{self.name} is pinned for reading only")
        raw = PinnedFile(fd, str(self))
        if "b" in mode:
            if buffering == 0:
                return raw  # type: ignore[return-value]
            size = buffering if buffering > 1 else io.DEFAULT_BUFFER_SIZE
            return io.BufferedReader(raw, size)
        return io.TextIOWrapper(io.BufferedReader(raw), encoding, errors, newline)

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        """``fstat`` of the pinned descriptor."""
        fd = getattr(self, "_pinned_fd", None)
        if fd is None:
            return super().stat(follow_symlinks=follow_symlinks)
        return os.fstat(fd)

    def __reduce__(self) -> Any:
        # A forked scan worker inherits the descriptor; any other child re-checks the parent.
        return (_rebuild, (str(self), getattr(self, "_pinned_fd", None), os.getpid()))


_READ_MODES = frozenset("rbt")


class PinnedFile(io.RawIOBase):
    """A read-only file over a descriptor it does not own, at an offset of its own (``pread``).

    ``fileno()`` is the pinned descriptor (for ``mmap`` and ``fstat``); closing the file leaves
    the descriptor open for the next reader.
    """

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0
        self.name = name
        self.mode = "rb"

    def readable(self) -> bool:
        """Always: the file is open for reading."""
        return True

    def seekable(self) -> bool:
        """Always: the offset is this object's own."""
        return True

    def fileno(self) -> int:
        """The pinned descriptor (shared: read it with ``pread`` or ``mmap``, not ``read``)."""
        self._check()
        return self._fd

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` from this file's offset and advance it; 0 at the end."""
        self._check()
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        if hasattr(os, "preadv"):
            n = os.preadv(self._fd, [view], self._pos)
        else:  # macOS
            data = os.pread(self._fd, len(view), self._pos)
            n = len(data)
            view[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move this file's offset, as ``lseek`` would (past the end is allowed)."""
        self._check()
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self._pos + offset
        elif whence == os.SEEK_END:
            target = os.fstat(self._fd).st_size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if target < 0:
            raise OSError(errno.EINVAL, "Invalid argument")
        self._pos = target
        return target

    def tell(self) -> int:
        """This file's offset."""
        self._check()
        return self._pos

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")


def _rebuild(path: str, fd: int | None, parent: int) -> PinnedPath:
    result = PinnedPath(path)
    if fd is not None and os.getppid() != parent and os.getpid() != parent:
        raise RuntimeError("a pinned file was sent to a process that did not fork from the gate")
    result._pinned_fd = fd
    return result


class PinnedFiles:
    """Descriptors of a model's regular files, keyed by their real path."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._stamps: dict[str, Stamp] = {}

    def pin(self, path: os.PathLike[str] | str, expected: Stamp | None = None) -> bool:
        """Open ``path`` once (never blocking on a special file); keep it if regular.

        Returns whether the file is pinned. A file whose stamps differ from ``expected`` (it was
        swapped since it was listed) is pinned anyway: the gate's stamp check reports it.
        """
        if len(self._fds) >= MAX_PINNED:
            return False
        real = os.path.realpath(path)
        if real in self._fds:
            return True
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return False  # the reader that needs it reports why
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):
            os.close(fd)
            return False
        self._fds[real] = fd
        self._stamps[real] = expected if expected is not None else _stamp(st)
        return True

    def fd(self, path: os.PathLike[str] | str) -> int | None:
        """The pinned descriptor of ``path`` (by its real path), if any."""
        if not self._fds:
            return None
        return self._fds.get(os.path.realpath(path))

    def path(self, path: os.PathLike[str] | str) -> PinnedPath | None:
        """``path`` as a :class:`PinnedPath` reading the pinned descriptor, if pinned."""
        fd = self.fd(path)
        if fd is None:
            return None
        result = PinnedPath(path)
        result._pinned_fd = fd
        return result

    def changed(self) -> list[str]:
        """Real paths whose pinned file no longer has the stamps it was listed with."""
        return [
            real for real, fd in self._fds.items() if _stamp(os.fstat(fd)) != self._stamps[real]
        ]

    def close(self) -> None:
        """Close every descriptor."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


@contextlib.contextmanager
def pinned(paths: Iterable[tuple[os.PathLike[str] | str, Stamp | None]]) -> Iterator[PinnedFiles]:
    """Pin ``(path, listed stamps)`` pairs and make them the active pins until exit."""
    files = PinnedFiles()
    token = _ACTIVE.set(files)
    try:
        for path, expected in paths if os.name == "posix" else ():  # elsewhere: read by name
            files.pin(path, expected)
        yield files
    finally:
        _ACTIVE.reset(token)
        files.close()


def active() -> PinnedFiles | None:
    """The pins of the gate run in progress, if any."""
    return _ACTIVE.get()


def hash_fd(
    fd: int,
    content_hasher: Any,
    chunk: int = 1 << 20,
    *,
    start: int = 0,
    end: int | None = None,
) -> None:
    """Feed bytes ``[start, end)`` of the file behind ``fd`` (default: all) to the hasher.

    A file that ends early is read up to its end.

    ``os.preadv`` into one reused buffer: the descriptor's offset is untouched, nothing is
    allocated per chunk, and the process does not map (and so keep resident) the file.
    """
    offset = start
    if not hasattr(os, "preadv"):  # macOS: pread allocates each chunk, same bytes
        while end is None or offset < end:
            want = chunk if end is None else min(chunk, end - offset)
            data = os.pread(fd, want, offset)
            if not data:
                break
            content_hasher.update(data)
            offset += len(data)
        return
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    while end is None or offset < end:
        want = chunk if end is None else min(chunk, end - offset)
        n = os.preadv(fd, [view[:want] if want < chunk else buffer], offset)
        if n <= 0:
            break
        content_hasher.update(view[:n] if n < chunk else view)
        offset += n
