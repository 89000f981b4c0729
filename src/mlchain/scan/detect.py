"""Content-based format detection of a top-level file.

The format comes from the bytes (magic numbers and structure, one table: :mod:`mlchain.scan.magic`),
never from the name alone: a pickle named ``.safetensors`` is exactly the attack. The name is used
for two things only: to tell JSON configuration files apart, and to notice when the claimed format
differs from the real one, which is itself a ``format-mismatch`` finding.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlchain.models import ArtifactFormat as F
from mlchain.scan import magic
from mlchain.scan.containers.buffer import SNIFF_BYTES
from mlchain.scan.magic import PICKLE_FAMILY, is_known_inert
from mlchain.scan.text import is_text

HEAD_BYTES = SNIFF_BYTES
"""How much of a file detection reads."""

_PLAIN_PATH = type(Path())
"""``PosixPath`` (``WindowsPath`` there): paths whose ``open`` is the file system's."""

_EXTENSION_CLAIMS: dict[str, frozenset[F]] = {
    ".safetensors": frozenset({F.SAFETENSORS}),
    ".gguf": frozenset({F.GGUF}),
    ".onnx": frozenset({F.ONNX}),
    ".pt": PICKLE_FAMILY,
    ".pth": PICKLE_FAMILY,
    ".ckpt": PICKLE_FAMILY,
    ".pkl": PICKLE_FAMILY,
    ".pickle": PICKLE_FAMILY,
    ".joblib": PICKLE_FAMILY,
    ".npy": frozenset({F.NUMPY}),
    ".npz": frozenset({F.NUMPY_ZIP, F.ZIP}),
    ".keras": frozenset({F.KERAS}),
    ".json": frozenset({F.HF_CONFIG, F.TOKENIZER_CONFIG, F.SAFETENSORS_INDEX, F.DATA}),
}


_ZIP_FAMILY = frozenset({F.ZIP, F.PYTORCH_ZIP, F.TORCHSCRIPT, F.NUMPY_ZIP, F.KERAS})


@dataclass(frozen=True, slots=True)
class Detection:
    """The result of detection: the real format and, if the name claims another, that claim."""

    format: F
    mismatch: str | None = None
    """Human-readable claim when the extension promises a different format."""


def claimed_formats(name: str) -> frozenset[F] | None:
    """Formats the file name promises, or ``None`` when the name promises nothing."""
    return _EXTENSION_CLAIMS.get(name_suffix(name).lower())


def name_suffix(name: str) -> str:
    """``PurePosixPath(name).suffix`` for one path component, without building a path.

    The last dot starts the suffix unless it is the first or the last character (``.bashrc``
    and ``model.`` have none). tests/unit/scan/test_detect.py compares it with pathlib on random
    names; detection runs once per file, and pathlib's parsing was a tenth of it.
    """
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def detect(path: Path, head: bytes, size: int) -> Detection:
    """Detect the format of the file at ``path`` whose first bytes are ``head``.

    ``path`` is opened only for container formats whose type depends on their member list
    (zip and tar central directories) or on their end (a zip with data in front); nothing else
    is read.
    """
    name = path.name
    probe = magic.Probe.of_file(path, head, size, name)
    fmt = (magic.sniff(probe) or F.DATA) if size else F.EMPTY
    claims = claimed_formats(name)
    mismatch = None
    if claims is not None and fmt not in claims and fmt not in {F.EMPTY, F.LFS_POINTER}:
        # A pickle that is also a zip is scanned as the zip (whose scanner reads the pickle in
        # front of it too); a pickle name is then no lie.
        polyglot = fmt in _ZIP_FAMILY and F.PICKLE in claims and magic.starts_with_pickle(probe)
        if not polyglot:
            mismatch = f"named {name_suffix(name)!r} but the content is {fmt.value}"
    return Detection(fmt, mismatch)


def read_head(path: Path, limit: int = HEAD_BYTES) -> bytes:
    """Read up to ``limit`` bytes from the start of ``path`` (fewer only at its end).

    A plain path is read with the flags of ``path.open("rb")`` but without the buffered file
    object around the descriptor: for the many small files of a big scan that object cost more
    than the reads. A :class:`mlchain.pinned.PinnedPath` with a descriptor is read from it,
    never by name; any other ``Path`` subclass may define what opening means and is opened
    through its own ``open``.
    """
    pinned = getattr(path, "_pinned_fd", None)
    if pinned is not None:  # POSIX only: read at offset 0, the descriptor's offset untouched
        head = os.pread(pinned, limit, 0)
        if not head or len(head) == limit:
            return head
        return _read_rest(head, lambda n, at: os.pread(pinned, n, at), limit)
    if type(path) is not _PLAIN_PATH:
        with path.open("rb") as handle:
            return handle.read(limit)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        head = os.read(fd, limit)
        if not head or len(head) == limit:
            return head
        return _read_rest(head, lambda n, at: os.read(fd, n), limit)
    finally:
        os.close(fd)


def _read_rest(head: bytes, read: Callable[[int, int], bytes], limit: int) -> bytes:
    """``head`` and what ``read(size, offset)`` gives after it, up to ``limit`` bytes in all.

    A read may return less than asked before the end of the file; only an empty one ends it.
    """
    parts = [head]
    got = len(head)
    while got < limit and (more := read(limit - got, got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


__all__ = [
    "HEAD_BYTES",
    "PICKLE_FAMILY",
    "Detection",
    "claimed_formats",
    "detect",
    "is_known_inert",
    "is_text",
    "name_suffix",
    "read_head",
]
