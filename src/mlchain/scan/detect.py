"""Content-based format detection.

The format comes from the bytes (magic numbers and structure), never from the name alone: a pickle
named ``.safetensors`` is exactly the attack. The name is used for two things only: to tell JSON
configuration files apart, and to notice when the claimed format differs from the real one, which
is itself a ``format-mismatch`` finding.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlchain.models import ArtifactFormat as F

HEAD_BYTES = 64 * 1024
"""How much of a file detection reads."""

LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"

# Formats a loader will treat as "some pickle container": a .pt holding a zip is normal.
PICKLE_FAMILY = frozenset(
    {
        F.PICKLE,
        F.PYTORCH_ZIP,
        F.PYTORCH_LEGACY,
        F.PYTORCH_TAR,
        F.TORCHSCRIPT,
        F.NUMPY,
        F.NUMPY_ZIP,
        F.JOBLIB,
        F.GZIP,
        F.BZIP2,
        F.XZ,
        F.ZLIB,
    }
)

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

_TEXT_EXTENSIONS = frozenset(
    {".md", ".txt", ".json", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".csv", ".tsv", ".jinja"}
    | {".gitattributes", ".gitignore", ".model", ".vocab", ".spm", ".tiktoken", ".jsonl"}
)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")

_LEGACY_TORCH_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")  # LONG1 0x1950a86a20f9469cfc6c

# The loader accepts any opcode first (no PROTO needed, even for protocol 4 opcodes), so every
# opcode byte may start a pickle; the sniffer's opcode walk then decides.
_TEXT_PICKLE_FIRST = frozenset(b"(cI]}NSVFLaJKM)ldtUTXBCGhjqrpg.i012PQRbeosu\x80") | frozenset(
    range(0x81, 0x99)
)


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
    (zip and tar central directories); nothing else is read.
    """
    fmt = _detect_content(path, head, size)
    claims = claimed_formats(path.name)
    mismatch = None
    if claims is not None and fmt not in claims and fmt not in {F.EMPTY, F.LFS_POINTER}:
        mismatch = f"named {path.suffix!r} but the content is {fmt.value}"
    return Detection(fmt, mismatch)


def _detect_content(path: Path, head: bytes, size: int) -> F:
    if size == 0:
        return F.EMPTY
    if head.startswith(LFS_PREFIX):
        return F.LFS_POINTER
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _classify_zip(path)
    if head.startswith(b"\x93NUMPY"):
        return F.NUMPY
    if head.startswith(b"GGUF"):
        return F.GGUF
    if head.startswith(b"\x1f\x8b"):
        return F.GZIP
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return F.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return F.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return F.SEVEN_ZIP
    if _is_safetensors(head, size):
        return F.SAFETENSORS
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5 and (head[1] >= 2 or _sniff(head, size)):
        return F.PYTORCH_LEGACY if head[2:14] == _LEGACY_TORCH_MAGIC else F.PICKLE
    if _is_tar(head):
        return _classify_tar(path)
    if head[:1] in (b"\x78",) and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return F.ZLIB
    if head.startswith(b"\x5d\x00\x00"):
        return F.XZ  # raw .lzma ("alone" format), as joblib writes with compress="lzma"
    if _looks_like_onnx(head):
        return F.ONNX
    name = path.name.lower()
    if name.endswith(".py"):
        return F.PYTHON
    if head[:1] in (b"{", b"[") or name.endswith(".json"):
        json_format = _classify_json(name)
        if json_format is not F.DATA:
            return json_format
    if head[0] in _TEXT_PICKLE_FIRST and _looks_like_text_pickle(head, size):
        return F.PICKLE
    return F.DATA


def is_text(head: bytes) -> bool:
    """Whether ``head`` decodes as UTF-8 text (a cut multi-byte character at the end is fine)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def is_known_inert(path: Path, head: bytes) -> bool:
    """Whether the file is plain text or an image, i.e. nothing a model loader deserializes."""
    suffix = path.suffix.lower() or path.name.lower()
    if head.startswith(_IMAGE_MAGIC):
        return True
    return (suffix in _TEXT_EXTENSIONS or path.name in {"LICENSE", "NOTICE"}) and is_text(head)


def _classify_json(name: str) -> F:
    if name == "config.json":
        return F.HF_CONFIG
    if name == "tokenizer_config.json":
        return F.TOKENIZER_CONFIG
    if name.endswith(".safetensors.index.json"):
        return F.SAFETENSORS_INDEX
    return F.DATA


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack_from("<Q", head, 0)
    # A safetensors header is JSON starting with '{' right after the 8-byte length.
    return 2 <= header_len <= size - 8 and head[8:9] == b"{"


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto: field 1 (ir_version, varint) first, then a small version number, then
    # another field key: producer_name (2), producer_version (3), domain (4), model_version (5),
    # doc_string (6), graph (7), opset_import (8), metadata (14), functions (25).
    return (
        len(head) >= 3
        and head[0] == 0x08
        and 1 <= head[1] <= 64
        and head[2] in {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xCA}
    )


def _sniff(head: bytes, size: int) -> bool:
    # PROTO 0 and 1 are legal for the loader; confirm with an opcode walk.
    from mlchain.scan.pickle_sniff import sniff_pickle

    return sniff_pickle(head, head_is_whole_file=size <= len(head))


def _looks_like_text_pickle(head: bytes, size: int) -> bool:
    """Cheap check for protocol 0/1 pickles: a full opcode walk happens in the scanner."""
    from mlchain.scan.pickle_sniff import sniff_pickle

    return sniff_pickle(head, head_is_whole_file=size <= len(head))


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _classify_zip(path: Path) -> F:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return F.ZIP  # the zip scanner reports the damage
    if any(n.endswith("data.pkl") or n.endswith(".data/version") for n in names):
        if any("/code/" in f"/{n}" or n.endswith("constants.pkl") for n in names):
            return F.TORCHSCRIPT
        return F.PYTORCH_ZIP
    if names and all(n.endswith(".npy") for n in names):
        return F.NUMPY_ZIP
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return F.KERAS
    return F.ZIP


def _classify_tar(path: Path) -> F:
    try:
        with tarfile.open(path, mode="r:") as archive:
            names = {m.name for m in archive.getmembers()[:64]}
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return F.TAR
    if {"sys_info", "pickle", "storages"} <= names:
        return F.PYTORCH_TAR
    return F.TAR


def read_head(path: Path, limit: int = HEAD_BYTES) -> bytes:
    """Read up to ``limit`` bytes from the start of ``path``."""
    with path.open("rb") as handle:
        return handle.read(limit)


__all__ = ["HEAD_BYTES", "PICKLE_FAMILY", "Detection", "detect", "is_known_inert", "read_head"]
