"""Safe traversal of the paths given to ``scan``.

Rules: symbolic links are never followed out of the scan root (a finding instead); links to
directories are not followed at all (loops and double counting); FIFOs, sockets and devices are
reported as skipped and never opened; version-control metadata is excluded and the exclusion is
recorded in the report. Order is sorted, so reports are deterministic.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlchain.errors import InputError
from mlchain.sanitize import clean_path

EXCLUDED_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One file system entry the walk found under a root."""

    path: Path
    """Path to open (for an in-root symlink: the link itself; open() follows it)."""
    rel: PurePosixPath
    root: Path
    size: int = 0
    skipped: str | None = None
    """Why this entry is not opened (special file, directory symlink)."""
    escape: str | None = None
    """Where a symlink leads when it leaves the root; the entry is not opened."""


def walk(path: Path, excluded: list[str]) -> Iterator[Entry]:
    """Yield every entry under ``path`` (a file or a directory), sorted.

    Raises:
        InputError: if ``path`` itself does not exist or cannot be listed.
    """
    try:
        st = path.lstat()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if stat.S_ISDIR(st.st_mode):
        root = path
        yield from _walk_dir(root, root, excluded)
        return
    root = path.parent
    yield _classify(path, PurePosixPath(clean_path(path.name)), root, st)


def _walk_dir(root: Path, directory: Path, excluded: list[str]) -> Iterator[Entry]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        rel = _rel(root, directory)
        yield Entry(directory, rel, root, skipped=f"directory could not be listed: {exc.strerror}")
        return
    for entry in entries:
        full = Path(entry.path)
        rel = _rel(root, full)
        try:
            st = full.lstat()
        except OSError as exc:
            yield Entry(full, rel, root, skipped=f"could not stat: {exc.strerror}")
            continue
        if stat.S_ISDIR(st.st_mode):
            if entry.name in EXCLUDED_DIRS:
                excluded.append(str(rel))
                continue
            yield from _walk_dir(root, full, excluded)
        else:
            yield _classify(full, rel, root, st)


def _classify(full: Path, rel: PurePosixPath, root: Path, st: os.stat_result) -> Entry:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return _classify_link(full, rel, root)
    if stat.S_ISREG(mode):
        return Entry(full, rel, root, size=st.st_size)
    return Entry(full, rel, root, skipped=f"special file ({_kind(mode)}) not opened")


def _classify_link(full: Path, rel: PurePosixPath, root: Path) -> Entry:
    try:
        target = full.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # dangling link or loop
        reason = "symlink loop" if isinstance(exc, RuntimeError) else "dangling symlink"
        if isinstance(exc, OSError) and exc.errno == 40:  # ELOOP
            reason = "symlink loop"
        return Entry(full, rel, root, skipped=f"{reason} not followed")
    real_root = root.resolve()
    if not target.is_relative_to(real_root):
        return Entry(full, rel, root, escape=str(target))
    st = target.stat()
    if stat.S_ISDIR(st.st_mode):
        return Entry(full, rel, root, skipped="symlink to a directory not followed")
    if not stat.S_ISREG(st.st_mode):
        return Entry(full, rel, root, skipped=f"symlink to a special file ({_kind(st.st_mode)})")
    return Entry(target, rel, root, size=st.st_size)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "unknown type"


def _rel(root: Path, full: Path) -> PurePosixPath:
    # Reported names are sanitised once, here: control characters, ANSI sequences and invalid
    # UTF-8 in file names must not reach any output format. The real path stays in Entry.path.
    return PurePosixPath(clean_path(full.relative_to(root).as_posix()))
