"""Content-based format detection.

The format comes from the bytes (magic numbers and structure), never from the name alone: a pickle
named ``.safetensors`` is exactly the attack. The name is used for two things only: to tell JSON
configuration files apart, and to notice when the claimed format differs from the real one, which
is itself a ``format-mismatch`` finding.
"""

from __future__ import annotations

import struct
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
    if _is_safetensors(head, size, path.name):
        return F.SAFETENSORS
    from mlchain.scan.containers.legacy import is_legacy_torch

    if is_legacy_torch(head):  # any pickle protocol; storages follow the fifth pickle
        return F.PYTORCH_LEGACY
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5 and (head[1] >= 2 or _sniff(head, size)):
        if _has_zip_tail(path, size, head, exact=True):
            return _classify_zip(path)  # pickle + zip polyglot: the zip scanner reads both
        return F.PICKLE
    if _is_tar(head):
        return _classify_tar(path)
    if head[:1] in (b"\x78",) and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return F.ZLIB
    if head.startswith(b"ZF0x"):
        return F.ZLIB  # joblib < 0.10 "ZF" file: hex length + zlib; joblib.load still reads it
    if head.startswith(b"\x5d\x00\x00"):
        return F.XZ  # raw .lzma ("alone" format), as joblib writes with compress="lzma"
    from mlchain.scan.detect_formats import classify_content, classify_fallback

    other = classify_content(path, head, size)  # HDF5, TFLite, SavedModel (issue #14)
    if other is not None:
        return other
    if _looks_like_onnx(head):
        return F.ONNX
    name = path.name.lower()
    if name.endswith(".py"):
        return F.PYTHON
    if name.endswith(".jinja"):
        return F.TOKENIZER_CONFIG  # a chat template stored on its own (transformers >= 4.43)
    if head[:1] in (b"{", b"[") or name.endswith(".json"):
        json_format = _classify_json(name)
        if json_format is not F.DATA:
            return json_format
    if head and head[0] in _TEXT_PICKLE_FIRST and _looks_like_text_pickle(head, size):
        return _classify_zip(path) if _has_zip_tail(path, size, head, exact=True) else F.PICKLE
    if _has_zip_tail(path, size, head):
        return _classify_zip(path)
    return classify_fallback(path, head, size) or F.DATA


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
    """Whether the file is plain text or an image, i.e. nothing a model loader deserializes.

    Text of any name counts: detection has already ruled out the formats that are text on the
    wire (protocol 0/1 pickles, JSON configs, Python), and the inert scanner still checks text
    for YAML tags that make ``yaml.load`` construct Python objects.
    """
    del path  # the name is no longer consulted: content decides
    return head.startswith(_IMAGE_MAGIC) or is_text(head)


_HF_CODE_CONFIGS = frozenset({"config.json", "preprocessor_config.json", "processor_config.json"})
"""Hugging Face configs whose ``auto_map`` can name repository code (tokenizer_config.json has
its own format because it also carries the chat template)."""


def _classify_json(name: str) -> F:
    if name in _HF_CODE_CONFIGS:
        return F.HF_CONFIG
    if name in ("tokenizer_config.json", "chat_template.json"):
        return F.TOKENIZER_CONFIG
    if name.endswith(".safetensors.index.json"):
        return F.SAFETENSORS_INDEX
    return F.DATA


def _is_safetensors(head: bytes, size: int, name: str) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack_from("<Q", head, 0)
    # A safetensors header is JSON starting with '{' right after the 8-byte length. A file
    # named .safetensors whose length runs past its end is still safetensors (a broken or
    # hostile one): the scanner reports it instead of the file going unscanned.
    if header_len < 2 or head[8:9] != b"{":
        return False
    return header_len <= size - 8 or name.lower().endswith(".safetensors")


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
    # Our own lenient central-directory reader: it sees the member names torch sees, including
    # in archives Python's zipfile refuses (see mlchain.scan.containers.zipreader).
    from mlchain.scan.containers.dispatch import mapped
    from mlchain.scan.containers.zipscan import classify_zip_buffer

    try:
        with mapped(path) as buf:
            return classify_zip_buffer(buf)
    except Exception:  # detection must never stop the run; the zip scanner reports the damage
        return F.ZIP


def _has_zip_tail(path: Path, size: int, head: bytes, *, exact: bool = False) -> bool:
    """Whether the file ends with a zip directory (data prepended to a zip).

    With ``exact``, the end record must close the file: a pickle that merely carries zip bytes
    as a constant ends with more opcodes, an appended zip does not.
    """
    from mlchain.scan.containers.zipreader import EOCD_SIG, find_eocd

    tail_size = min(size, 22 + 0xFFFF)
    if size <= len(head):  # a small file is all in the head already: no second open
        tail = head[size - tail_size : size]
    else:
        try:
            with path.open("rb") as handle:
                handle.seek(size - tail_size)
                tail = handle.read(tail_size)
        except OSError:
            return False
    if EOCD_SIG not in tail:
        return False
    eocd = find_eocd(tail)
    if eocd < 0:
        return False
    if not exact:
        return True
    (comment_len,) = struct.unpack_from("<H", tail, eocd + 20)
    return bool(eocd + 22 + comment_len == len(tail))


def _classify_tar(path: Path) -> F:
    # Reads at most 64 member headers (tarfile.getmembers would walk the whole archive).
    from mlchain.scan.containers.dispatch import mapped
    from mlchain.scan.containers.tarscan import classify_tar_buffer

    try:
        with mapped(path) as buf:
            return classify_tar_buffer(buf)
    except Exception:  # detection must never stop the run; the tar scanner reports the damage
        return F.TAR


def read_head(path: Path, limit: int = HEAD_BYTES) -> bytes:
    """Read up to ``limit`` bytes from the start of ``path``."""
    with path.open("rb") as handle:
        return handle.read(limit)


__all__ = ["HEAD_BYTES", "PICKLE_FAMILY", "Detection", "detect", "is_known_inert", "read_head"]
