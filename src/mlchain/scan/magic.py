"""One table of magic bytes: what content is, for top-level files and nested content alike.

Detection of a file (:mod:`mlchain.scan.detect`) and of nested content (archive members and
decompressed streams, :mod:`mlchain.scan.containers.common`) both call :func:`sniff`, so the two
cannot drift apart: in a scanner, two classifiers that disagree are a bypass.
``tests/unit/scan/test_magic.py`` checks that both agree on every fixture, except listed cases.

The rules run in the order of :data:`RULES`; the first that matches decides. Order matters where
signatures overlap (a safetensors header of 93 bytes starts with ``5d 00 00``, the raw-lzma
magic), and is part of the contract. What differs between the two callers is explicit:

* ``Probe.name``: only a top-level file has a name, and names decide only formats that are text
  on the wire (JSON configs, Python, Jinja) and a truncated ``.safetensors`` file. Nested content
  is classified by its bytes alone.
* Callers filter the answer: nested content is scanned only when its format is in
  :data:`NESTED_SCANNABLE` (a GGUF file inside an archive is reported as not scanned instead).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.buffer import SNIFF_BYTES, Buf, mapped
from mlchain.scan.text import is_text

LFS_PREFIX = b"version https://git-lfs.github.com/spec/v1"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
"""Local header, empty-archive end record, spanning marker: every way a zip file starts."""
NUMPY_MAGIC = b"\x93NUMPY"
GGUF_MAGIC = b"GGUF"
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
"""Followed by the block size digit 1-9; bz2 refuses a stream without it."""
XZ_MAGIC = b"\xfd7zXZ\x00"
LZMA_ALONE_MAGIC = b"\x5d\x00"
"""Raw ``.lzma`` ("alone" format), as joblib writes with ``compress="lzma"``; joblib picks it by
these two bytes (the dictionary size that follows may be anything lzma accepts)."""
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZFILE_MAGIC = b"ZF"
"""joblib < 0.10 ``ZF`` file: ``ZF``, a 19-character hex length, zlib data; ``joblib.load``
still reads it (``numpy_pickle_compat.read_zfile``)."""
ZFILE_HEADER = 2 + 19
LZ4_MAGIC = b"\x04\x22\x4d\x18"
"""lz4 frame magic (joblib's lz4 compressor); decompressing it needs a third-party module."""
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
"""PNG, JPEG, GIF and RIFF (WebP, WAV): media no model loader deserializes."""

LEGACY_TORCH_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
"""The first pickle of every legacy torch file is this integer."""
_LEGACY_LONG1 = b"\x8a\x0a" + LEGACY_TORCH_MAGIC_NUMBER.to_bytes(10, "little")
_LEGACY_TEXT = b"L" + str(LEGACY_TORCH_MAGIC_NUMBER).encode() + b"L\n."

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
"""Formats a loader will treat as "some pickle container": a .pt holding a zip is normal."""

NESTED_SCANNABLE = PICKLE_FAMILY | {F.TORCHSCRIPT, F.SEVEN_ZIP, F.ZIP, F.TAR}
"""Formats the container scanners scan when they find them inside another container."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What detection may look at: the head, the size, the whole content on demand, a name."""

    head: bytes
    """The first bytes (at most :data:`SNIFF_BYTES`); all of the content when ``whole``."""
    size: int
    content: Callable[[], AbstractContextManager[Buf]]
    """Opens the whole content (zip and tar directories, the zip end record)."""
    name: str = ""
    """The file name, top level only: nested content has no name that decides anything."""
    size_known: bool = True
    """False for the head of content whose size is not at hand (:meth:`of_prefix`)."""
    path: Path | None = None
    """The file, top level only: the fallback rules read siblings (TF checkpoint index) or more
    of the file; nested content has none, so those rules never match there."""

    @property
    def whole(self) -> bool:
        """Whether the head is all of the content."""
        return self.size <= len(self.head)

    @classmethod
    def of_buffer(cls, buf: Buf) -> Probe:
        """A probe of nested content held in memory (or mapped)."""
        return cls(bytes(buf[:SNIFF_BYTES]), len(buf), lambda: nullcontext(buf))

    @classmethod
    def of_prefix(cls, head: bytes, *, cut: bool) -> Probe:
        """A probe of the first bytes of longer content (``cut``) that is not at hand.

        Rules that need the end of the content (a zip directory) cannot match; callers that get
        ``None`` for a cut prefix must look at the whole content before deciding.
        """
        size = len(head) + 1 if cut else len(head)
        return cls(head, size, _no_content, size_known=not cut)

    @classmethod
    def of_file(cls, path: Path, head: bytes, size: int, name: str | None = None) -> Probe:
        """A probe of the top-level file at ``path`` whose first bytes are ``head``.

        ``name`` is ``path.name`` when the caller has it at hand already.
        """
        return cls(head, size, lambda: mapped(path), path.name if name is None else name, path=path)


def _no_content() -> AbstractContextManager[Buf]:
    raise ValueError("only the head of this content is at hand")


def sniff(probe: Probe) -> F | None:
    """The format of the probed content, or ``None`` when no rule of :data:`RULES` matches."""
    if not probe.head:
        return None
    for rule in RULES:
        fmt = rule(probe)
        if fmt is not None:
            return fmt
    return None


# -- the rules, in order ---------------------------------------------------------------------


def _lfs(p: Probe) -> F | None:
    return F.LFS_POINTER if p.head.startswith(LFS_PREFIX) else None


def _zip(p: Probe) -> F | None:
    return _classify_zip(p) if p.head.startswith(ZIP_MAGIC) else None


_PLAIN_SIGNATURES: tuple[tuple[bytes, F], ...] = (
    (NUMPY_MAGIC, F.NUMPY),
    (GGUF_MAGIC, F.GGUF),
    (GZIP_MAGIC, F.GZIP),
    (XZ_MAGIC, F.XZ),
    (SEVEN_ZIP_MAGIC, F.SEVEN_ZIP),
)


def _signatures(p: Probe) -> F | None:
    for magic, fmt in _PLAIN_SIGNATURES:
        if p.head.startswith(magic):
            return fmt
    if p.head.startswith(BZIP2_MAGIC) and p.head[3:4].isdigit():
        return F.BZIP2
    return None


def _safetensors(p: Probe) -> F | None:
    if len(p.head) < 9:
        return None
    (header_len,) = struct.unpack_from("<Q", p.head, 0)
    # A safetensors header is JSON starting with '{' right after the 8-byte length. A file
    # named .safetensors whose length runs past its end is still safetensors (a broken or
    # hostile one): the scanner reports it instead of the file going unscanned.
    # The Rust loader skips JSON whitespace before the '{' (a window of only whitespace counts).
    first = p.head[8:].lstrip(b" \t\n\r")[:1]
    if header_len < 2 or first not in (b"{", b""):
        return None
    if header_len <= p.size - 8 or p.name.lower().endswith(".safetensors"):
        return F.SAFETENSORS
    return None


def is_legacy_torch(head: bytes) -> bool:
    """Whether ``head`` starts with the magic-number pickle of any protocol (0-5).

    Protocols 0/1 write a text ``LONG``; 2/3 ``PROTO`` then ``LONG1``; 4/5 a ``FRAME`` first.
    """
    if head.startswith(_LEGACY_TEXT):
        return True
    if len(head) < 2 or head[0] != 0x80:
        return False
    if head[1] in (2, 3):
        return head[2:14] == _LEGACY_LONG1
    return head[1] in (4, 5) and head[2:3] == b"\x95" and head[11:23] == _LEGACY_LONG1


def _legacy_torch(p: Probe) -> F | None:
    return F.PYTORCH_LEGACY if is_legacy_torch(p.head) else None


def _is_binary_pickle(p: Probe) -> bool:
    head = p.head
    if len(head) < 2 or head[0] != 0x80 or head[1] > 5:
        return False
    # PROTO 0 and 1 are legal for the loader; confirm those with an opcode walk.
    return head[1] >= 2 or _sniff(p)


def _is_text_pickle(p: Probe) -> bool:
    # The loader accepts any opcode first (no PROTO needed, even for protocol 4 opcodes), so
    # every opcode byte may start a pickle; the sniffer's opcode walk then decides.
    from mlchain.scan.pickle_sniff import OPCODE_BYTES  # imported on first use, like the rest

    return p.head[0] in OPCODE_BYTES and _sniff(p)


def _sniff(p: Probe) -> bool:
    from mlchain.scan.pickle_sniff import sniff_pickle

    total = p.size if p.size_known else None
    return sniff_pickle(p.head, head_is_whole_file=p.whole, total_size=total)


def starts_with_pickle(p: Probe) -> bool:
    """Whether a pickle loader reading from offset 0 would run the content as a pickle."""
    return bool(p.head) and (_is_binary_pickle(p) or _is_text_pickle(p))


def _binary_pickle(p: Probe) -> F | None:
    return _pickle_or_polyglot(p) if _is_binary_pickle(p) else None


def _tar(p: Probe) -> F | None:
    # tarfile accepts any first header whose checksum holds (v7 archives have no "ustar").
    from mlchain.scan.containers.tarreader import looks_like_tar_header

    if p.head[257:262] == b"ustar" or looks_like_tar_header(p.head[:512]):
        return _classify_tar(p)
    return None


def _zlib(p: Probe) -> F | None:
    head = p.head
    if len(head) > 1 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return F.ZLIB
    return F.ZLIB if is_zfile(head) else None


def is_zfile(head: bytes) -> bool:
    """Whether ``head`` starts like joblib's ``ZF`` file: the length parses as ``int(x, 16)``.

    joblib checks only ``ZF``, then parses the 19 characters with ``int(..., 16)``, which takes
    ``0x1f``, ``1f`` and padding spaces alike.
    """
    if not head.startswith(ZFILE_MAGIC) or len(head) < ZFILE_HEADER:
        return False
    try:
        int(head[2:ZFILE_HEADER], 16)
    except ValueError:
        return False
    return True


def _lzma_alone(p: Probe) -> F | None:
    return F.XZ if p.head.startswith(LZMA_ALONE_MAGIC) else None


def looks_like_onnx(head: bytes) -> bool:
    """Whether ``head`` starts like an ONNX ``ModelProto``."""
    # field 1 (ir_version, varint) first, then a small version number, then another field key:
    # producer_name (2), producer_version (3), domain (4), model_version (5), doc_string (6),
    # graph (7), opset_import (8), metadata (14), functions (25).
    return (
        len(head) >= 3
        and head[0] == 0x08
        and 1 <= head[1] <= 64
        and head[2] in {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xCA}
    )


def _onnx(p: Probe) -> F | None:
    return F.ONNX if looks_like_onnx(p.head) else None


_HF_CODE_CONFIGS = frozenset({"config.json", "preprocessor_config.json", "processor_config.json"})
"""Hugging Face configs whose ``auto_map`` can name repository code (tokenizer_config.json has
its own format because it also carries the chat template)."""


def classify_json(name: str) -> F:
    """The configuration format a JSON file's name gives it (``DATA`` for any other JSON)."""
    if name in _HF_CODE_CONFIGS:
        return F.HF_CONFIG
    if name in ("tokenizer_config.json", "chat_template.json"):
        return F.TOKENIZER_CONFIG
    if name.endswith(".safetensors.index.json"):
        return F.SAFETENSORS_INDEX
    return F.DATA


def _model_formats(p: Probe) -> F | None:
    # HDF5, TFLite, TensorFlow SavedModel/GraphDef (by structure, or a name a loader opens as
    # is), before the ONNX heuristic, which a SavedModel's protobuf also passes (issue #14).
    from mlchain.scan.detect_formats import classify_content

    return classify_content(p.name, p.head, p.size)


def _fallback(p: Probe) -> F | None:
    # Content nothing else recognised: TF data by name and siblings, inert ML data, or a file
    # whose name claims a model format mlchain cannot read (model-unsupported). Top level only.
    if p.path is None:
        return None
    from mlchain.scan.detect_formats import classify_fallback

    return classify_fallback(p.path, p.head, p.size)


NAMED_FORMATS = frozenset({F.PYTHON, F.TOKENIZER_CONFIG, F.HF_CONFIG, F.SAFETENSORS_INDEX})
"""Formats a file gets from its name (:func:`_named_text`), ahead of the text-pickle rule: the
pipeline also runs the pickle check over their content (``inert.named_file_pickle``)."""


def _named_text(p: Probe) -> F | None:
    # Names decide only among formats that are text on the wire; binary formats came first.
    name = p.name.lower()
    if not name:
        return None
    if name.endswith(".py"):
        return F.PYTHON
    if name.endswith(".jinja"):
        return F.TOKENIZER_CONFIG  # a chat template stored on its own (transformers >= 4.43)
    if p.head[:1] in (b"{", b"[") or name.endswith(".json"):
        json_format = classify_json(name)
        if json_format is not F.DATA:
            return json_format
    return None


def _text_pickle(p: Probe) -> F | None:
    return _pickle_or_polyglot(p) if _is_text_pickle(p) else None


def _zip_tail(p: Probe) -> F | None:
    return _classify_zip(p) if has_zip_tail(p) else None


RULES: tuple[Callable[[Probe], F | None], ...] = (
    _lfs,
    _zip,
    _signatures,
    _safetensors,
    _legacy_torch,  # any pickle protocol; storages follow the fifth pickle
    _binary_pickle,
    _tar,
    _zlib,
    _lzma_alone,
    _model_formats,
    _onnx,
    _named_text,
    _text_pickle,
    _zip_tail,  # data prepended to a zip: zip readers find the end record
    _fallback,
)
"""The detection table, first match wins."""


# -- helpers ---------------------------------------------------------------------------------


def _pickle_or_polyglot(p: Probe) -> F:
    # A pickle that is also a zip: pickle loaders (and torch.load, which looks for the zip magic
    # at offset 0 only) run the pickle, zip readers find the end record in the last 64 KiB even
    # with bytes after it. The zip scanner reads both the archive and the pickle in front of it.
    return _classify_zip(p) if has_zip_tail(p) else F.PICKLE


def has_zip_tail(p: Probe, *, exact: bool = False) -> bool:
    """Whether the content ends with a zip directory (data prepended to a zip).

    With ``exact``, the end record must close the content: a pickle that merely carries zip
    bytes as a constant ends with more opcodes, an appended zip does not.
    """
    tail_size = min(p.size, 22 + 0xFFFF)
    if p.whole:  # a small file is all in the head already: no second open
        tail = p.head[p.size - tail_size : p.size]
    else:
        try:
            with p.content() as buf:
                tail = bytes(buf[len(buf) - min(len(buf), tail_size) :])
        except (OSError, ValueError):
            return False
    if ZIP_MAGIC[1] not in tail:  # the end record's signature (zipreader.EOCD_SIG)
        return False
    from mlchain.scan.containers.zipreader import find_eocd  # only when a record may be there

    eocd = find_eocd(tail)
    if eocd < 0:
        return False
    if not exact:
        return True
    (comment_len,) = struct.unpack_from("<H", tail, eocd + 20)
    return bool(eocd + 22 + comment_len == len(tail))


def _classify_zip(p: Probe) -> F:
    # Our own lenient central-directory reader: it sees the member names torch sees, including
    # in archives Python's zipfile refuses (see mlchain.scan.containers.zipreader).
    from mlchain.scan.containers.zipreader import classify_zip_buffer

    try:
        with p.content() as buf:
            return classify_zip_buffer(buf)
    except Exception:  # detection must never stop the run; the zip scanner reports the damage
        return F.ZIP


def _classify_tar(p: Probe) -> F:
    # Reads at most 64 member headers (tarfile.getmembers would walk the whole archive).
    from mlchain.scan.containers.tarreader import classify_tar_buffer

    try:
        with p.content() as buf:
            return classify_tar_buffer(buf)
    except Exception:  # detection must never stop the run; the tar scanner reports the damage
        return F.TAR


def is_image(head: bytes) -> bool:
    """Whether ``head`` starts with an image or media signature of :data:`IMAGE_MAGIC`."""
    return head.startswith(IMAGE_MAGIC)


def is_known_inert(head: bytes) -> bool:
    """Whether content is plain text or media, i.e. nothing a model loader deserializes.

    Text of any name counts: detection has already ruled out the formats that are text on the
    wire (protocol 0/1 pickles, JSON configs, Python), and the inert scanner still checks text
    for YAML tags that make ``yaml.load`` construct Python objects.
    """
    return is_image(head) or is_text(head)
