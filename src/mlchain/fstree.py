"""The one traversal of a folder that scanning and signing share (mlchain issue #15, item 1).

``mlchain scan`` (:mod:`mlchain.scan.walk`) and signing, verification and attestation subjects
(:mod:`mlchain.signing.tree`) list a model with this generator, so what is scanned and what is
signed come from the same view of the disk. It lists with ``os.scandir``, never follows a link to
a folder, keeps an explicit stack (no tree depth exhausts Python's recursion limit), and reports
what it cannot see instead of skipping it: a folder that cannot be listed and an entry that
cannot be ``lstat``-ed come out as nodes carrying the error. Each caller decides what an error
means (scanning: a ``file-unreadable`` finding; signing: refusal).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Node:
    """One entry below the top folder, or a failure to see one."""

    rel: str
    """Posix path relative to the top folder (``""`` for the top folder itself)."""
    path: Path
    st: os.stat_result | None
    """The entry's own ``lstat`` (links are not followed); ``None`` when ``error`` is set."""
    error: OSError | None = None
    """Set when the folder ``rel`` could not be listed (``listing``) or the entry not examined."""
    listing: bool = False
    """Whether ``error`` is a listing failure of the folder ``rel``."""

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a real folder (not a link to one)."""
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)


def walk_tree(top: Path, *, skip: Callable[[str, bool], bool] | None = None) -> Iterator[Node]:
    """Every entry below the folder ``top``, depth first, siblings sorted by name.

    A folder is yielded before its contents. ``skip(rel, is_dir)`` leaves an entry out (neither
    yielded nor, for a folder, listed). A folder that cannot be listed is yielded (again) as a
    node with ``listing=True`` and the error, the top folder as ``rel == ""``.
    """
    listing = _list(top, "")
    if isinstance(listing, Node):
        yield listing
        return
    stack: list[tuple[str, Path, Iterator[os.DirEntry[str]]]] = [("", top, iter(listing))]
    while stack:
        prefix, folder, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        rel = prefix + child.name
        path = folder / child.name  # == Path(child.path), parsing one name instead of them all
        try:
            st = child.stat(follow_symlinks=False)  # cached by scandir: no extra syscall
        except OSError as exc:
            yield Node(rel, path, None, exc)
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if skip is not None and skip(rel, is_dir):
            continue
        yield Node(rel, path, st)
        if is_dir:
            inner = _list(path, rel)
            if isinstance(inner, Node):
                yield inner
            else:
                stack.append((rel + "/", path, iter(inner)))


def _list(folder: Path, rel: str) -> list[os.DirEntry[str]] | Node:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return Node(rel, folder, None, exc, listing=True)
