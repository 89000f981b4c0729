"""The one walk of a model folder that signing, verifying and attestation subjects share.

model-signing enumerates a model with ``Path.glob("**/*")``, which silently skips a folder the
current user cannot list: a mode-0311 folder (traversable, not listable) hid an unsigned pickle
from ``mlchain verify`` run as a non-root user (mlchain issue #15, item 1). mlchain lists the tree
itself with ``os.scandir``, fails on any folder it cannot list and any entry it cannot ``lstat``,
and hands the complete list to model-signing (``files_to_hash``), so what is hashed is what is
on disk, and a partial view is never signed or verified.

The walk also records, per file, the identity and change stamps (device, inode, size, mtime and
ctime) the deploy gate compares after scanning (a file swapped between the hash and the scan
changes its ctime, whatever its content), and the files that are on disk but not covered by the
signature because an ignore entry or model-signing's fixed git ignores leave them out.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlchain.errors import InputError
from mlchain.fstree import walk_tree

GIT_IGNORES = (".git", ".gitattributes", ".github", ".gitignore")
"""Top-level paths model-signing always leaves out of a signature."""

FileStamp = tuple[int, int, int, int, int]
"""``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of a file (a link: of its target)."""


class UnreadableModelError(InputError):
    """A folder of the model cannot be listed, or an entry cannot be examined.

    Verification reports it as a failure (exit 1); signing and digests stop (exit 3): a partial
    view of a model is never signed, verified or attested.
    """

    hint = (
        "Every folder of the model must be listable by the user running mlchain (a folder with "
        "mode 0311 hides its files from a non-root user); fix the permissions, or run as the "
        "user that owns the model."
    )


@dataclass(frozen=True, slots=True)
class ModelTree:
    """Every entry under a model path, listed completely (or not at all)."""

    root: Path
    """The model path as given (a folder, or a single file)."""
    entries: tuple[tuple[str, Path, bool], ...]
    """``(relative posix name, path, is a folder)`` for every entry, sorted by name."""
    stamps: dict[str, FileStamp]
    """Identity and change stamps of every non-folder entry."""

    @property
    def is_file(self) -> bool:
        """Whether the model is a single file."""
        return not self.entries or self.entries[0][0] == "."

    def hash_inputs(self) -> list[Path]:
        """What model-signing must consider (``files_to_hash``): every non-folder entry."""
        return [path for _, path, is_dir in self.entries if not is_dir]

    def files(self) -> list[str]:
        """Relative names of every non-folder entry."""
        return [rel for rel, _, is_dir in self.entries if not is_dir]

    def not_covered(self, ignore: Iterable[str], *, keep: Iterable[str] = ()) -> list[str]:
        """Files on disk that an ignore entry (or the fixed git ignores) leaves unsigned.

        ``keep`` names files that are expected outside the signature (the signature bundle).
        """
        if self.is_file:
            return []
        prefixes = {p.strip("/") for p in (*ignore, *GIT_IGNORES) if p.strip("/")}
        expected = set(keep)
        return [
            rel
            for rel in self.files()
            if rel not in expected and any(rel == p or rel.startswith(p + "/") for p in prefixes)
        ]

    def changed(self) -> list[str]:
        """Files whose stamps differ from the walk's (or that vanished): the bytes moved."""
        out: list[str] = []
        for rel, path, is_dir in self.entries:
            if not is_dir and _stamp(path) != self.stamps.get(rel):
                out.append(rel)
        return out


def _stamp(path: Path) -> FileStamp | None:
    try:
        st = path.stat()  # links: the target, which is what gets hashed and served
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _unreadable(shown: str, exc: OSError) -> UnreadableModelError:
    from mlchain.sanitize import clean_path

    name = clean_path(shown if len(shown) <= 300 else "…" + shown[-300:])
    if exc.errno == errno.ENAMETOOLONG:
        return UnreadableModelError(
            f"The model folder is nested too deeply to read ({name}: the path is longer than "
            "the system allows); mlchain refuses a model it cannot read completely."
        )
    return UnreadableModelError(
        f"Cannot list or read {name} inside the model ({exc.strerror or exc}); mlchain refuses "
        "a model it cannot read completely."
    )


def list_model(model_path: Path, *, skip: Sequence[str] = ()) -> ModelTree:
    """List every entry under ``model_path`` without following folder links.

    ``skip`` names top-level entries (relative paths) left out of the listing entirely: the
    signature bundle being written over.

    Raises:
        UnreadableModelError: a folder cannot be listed or an entry cannot be examined.
        InputError: the model path itself does not exist.
    """
    try:
        top = model_path.lstat()
    except FileNotFoundError:
        raise InputError(f"No such model file or folder: {model_path}.") from None
    except OSError as exc:
        raise _unreadable(str(model_path), exc) from exc
    if not stat.S_ISDIR(top.st_mode):
        if stat.S_ISLNK(top.st_mode) and model_path.is_dir():
            pass  # a link to the model folder: list the folder it names
        else:
            stamp = _stamp(model_path)
            return ModelTree(model_path, ((".", model_path, False),), {".": stamp} if stamp else {})
    skipped = {s.strip("/") for s in skip}
    entries: list[tuple[str, Path, bool]] = []
    stamps: dict[str, FileStamp] = {}
    # The traversal scanning uses too (mlchain.fstree): explicit stack, so a deep tree cannot
    # exhaust Python's recursion limit; any folder it cannot list or entry it cannot examine
    # stops the listing.
    for node in walk_tree(model_path, skip=lambda rel, _: rel in skipped):
        if node.error is not None or node.st is None:
            shown = node.rel or str(model_path)
            raise _unreadable(shown, node.error or OSError(errno.EIO, "unknown")) from node.error
        rel, path, st = node.rel, node.path, node.st
        entries.append((rel, path, node.is_dir))
        if node.is_dir:
            continue
        if stat.S_ISLNK(st.st_mode):
            stamp = _stamp(path)
            if stamp is not None:
                stamps[rel] = stamp
        else:
            stamps[rel] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    entries.sort(key=lambda e: PurePosixPath(e[0]).parts)
    return ModelTree(model_path, tuple(entries), stamps)


MAX_LINK_HOPS = 40
"""Linux's own limit on links followed while resolving one path (``ELOOP`` past it)."""


def link_hazard(start: Path, rel: str, contain: Path) -> str | None:
    """Why the link at ``start / rel`` resolves differently elsewhere, or ``None``.

    The link is resolved one component at a time, as the kernel does, from ``start`` (the model
    folder, resolved), and every link met on the way is read. Two things make the target depend
    on where the folder is mounted rather than on what was signed:

    * an **absolute** target (``/models/m/w.bin``): it resolves in the mount namespace of
      whoever opens it; the verifier's check passes on its own view, and a server that mounts
      the model elsewhere reads other bytes;
    * a relative target that **leaves ``contain``** on the way (``../m/w.bin``, climbing out of
      the folder and back in by name): it depends on the folder's name and parent.

    ``contain`` is the folder the walk must stay inside: the model folder, or the cached
    repository of a Hugging Face cache snapshot (whose links climb to ``../../blobs``).
    """
    current = start
    todo = list(reversed(PurePosixPath(rel).parts))
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            if current != contain and contain not in current.parents:
                return f"{rel} climbs out of the model folder while resolving (through '..')"
            continue
        candidate = current / part
        try:
            target = candidate.readlink()
        except OSError:  # not a link (EINVAL), or missing: the resolver reports that
            current = candidate
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return f"{rel} is a symbolic link loop"
        if target.is_absolute():
            return f"{rel} resolves through an absolute symbolic link (to {target})"
        todo.extend(reversed(target.parts))
    return None


def shared_hard_links(tree: ModelTree) -> list[str]:
    """Regular files of ``tree`` that have names outside the listing (hard links), sorted.

    A file's link count (``st_nlink``) says how many names it has, not where they are: when it
    exceeds the names the listing found for the same ``(st_dev, st_ino)``, at least one name is
    outside the model (or in a part of it that was not listed). What cannot be told: where that
    name is, who can write through it, and whether it was made before or after signing. The
    bytes are still hashed at signing and at verification, so a hard link cannot make a
    verification pass on other bytes; it only gives another path to change them afterwards
    (the time-of-use gap ``verify --copy-to`` closes).
    """
    names: dict[tuple[int, int], list[str]] = {}
    links: dict[tuple[int, int], int] = {}
    for rel, path, is_dir in tree.entries:
        if is_dir:
            continue
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            continue
        key = (st.st_dev, st.st_ino)
        names.setdefault(key, []).append(rel)
        links[key] = st.st_nlink
    return sorted(rel for key, rels in names.items() if links[key] > len(rels) for rel in rels)
