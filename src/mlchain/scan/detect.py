"""Content-based format detection of a top-level file.

The format comes from the bytes (magic numbers and structure, one table: :mod:`mlchain.scan.magic`),
never from the name alone: a pickle named ``.safetensors`` is exactly the attack. The name is used
for two things only: to tell JSON configuration files apart, and to notice when the claimed format
differs from the real one, which is itself a ``format-mismatch`` finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlchain.models import ArtifactFormat as F
from mlchain.scan import magic
from mlchain.scan.containers.buffer import SNIFF_BYTES
from mlchain.scan.magic import PICKLE_FAMILY, is_known_inert
from mlchain.scan.text import is_text

HEAD_BYTES = SNIFF_BYTES
"""How much of a file detection reads."""

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
    return _EXTENSION_CLAIMS.get(PurePosixPath(name).suffix.lower())


def detect(path: Path, head: bytes, size: int) -> Detection:
    """Detect the format of the file at ``path`` whose first bytes are ``head``.

    ``path`` is opened only for container formats whose type depends on their member list
    (zip and tar central directories) or on their end (a zip with data in front); nothing else
    is read.
    """
    probe = magic.Probe.of_file(path, head, size)
    fmt = (magic.sniff(probe) or F.DATA) if size else F.EMPTY
    claims = claimed_formats(path.name)
    mismatch = None
    if claims is not None and fmt not in claims and fmt not in {F.EMPTY, F.LFS_POINTER}:
        # A pickle that is also a zip is scanned as the zip (whose scanner reads the pickle in
        # front of it too); a pickle name is then no lie.
        polyglot = fmt in _ZIP_FAMILY and F.PICKLE in claims and magic.starts_with_pickle(probe)
        if not polyglot:
            mismatch = f"named {path.suffix!r} but the content is {fmt.value}"
    return Detection(fmt, mismatch)


def read_head(path: Path, limit: int = HEAD_BYTES) -> bytes:
    """Read up to ``limit`` bytes from the start of ``path``."""
    with path.open("rb") as handle:
        return handle.read(limit)


__all__ = [
    "HEAD_BYTES",
    "PICKLE_FAMILY",
    "Detection",
    "claimed_formats",
    "detect",
    "is_known_inert",
    "is_text",
    "read_head",
]
