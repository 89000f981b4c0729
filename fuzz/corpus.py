"""Seed corpora for the fuzz targets, built from the committed fixtures (none are committed).

``seeds(name)`` returns the seed inputs of one corpus; ``build(name, dest)`` writes them as files
into ``dest`` for libFuzzer. Corpus names are the ``SEEDS`` attribute of each target module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO / "fixtures"
TARGETS = (
    "pickle",
    "zip",
    "tar",
    "npy",
    "safetensors",
    "safetensors_index",
    "gguf",
    "chat_template",
    "onnx",
    "strict_json",
    "keras",
    "hf_config",
    "policy",
    "detect",
)
"""Every target: module ``fuzz.fuzz_<name>``."""

MAX_SEED = 256 * 1024
"""Largest seed kept (libFuzzer mutates small inputs far better than large ones)."""


def _files(*areas: str) -> list[Path]:
    found: list[Path] = []
    for area in areas:
        base = FIXTURES / area
        found += [
            p
            for p in sorted(base.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.suffix != ".py"
        ]
    return found


def _all_files() -> list[Path]:
    return _files("containers", "gguf", "hfmodel", "onnx", "pickle", "repo", "safetensors", "fuzz")


def _read(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in paths:
        yield path.read_bytes()


def _zip_members(data: bytes, want: Callable[[str], bool]) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if want(info.filename) and info.file_size <= MAX_SEED:
                    yield archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError,
            EOFError, zlib.error, lzma.LZMAError):  # fmt: skip
        return


def _synthetic_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, body in (("a" * 120 + ".bin", b"\x80\x02N."), ("dir/data.pkl", b"(lp0\n.")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        archive.addfile(link)
    gnu = io.BytesIO()
    with tarfile.open(fileobj=gnu, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("b" * 150)
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    return out.getvalue() + gnu.getvalue()


def _pickle() -> Iterator[bytes]:
    yield from _read(_files("pickle"))
    yield b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N\x85\x94."  # framed protocol 4


def _zip() -> Iterator[bytes]:
    yield from _compressed_keras()
    for data in _read(_all_files()):
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            yield data


def _tar() -> Iterator[bytes]:
    yield _synthetic_tar()
    for path in _all_files():
        data = path.read_bytes()
        if data[257:262] == b"ustar":
            yield data
        elif path.name.endswith(".tar.gz"):
            yield gzip.decompress(data)


def _npy() -> Iterator[bytes]:
    for data in _read(_all_files()):
        if data.startswith(b"\x93NUMPY"):
            yield data
        elif data.startswith(b"PK"):
            yield from _zip_members(data, lambda name: name.endswith(".npy"))


def _safetensors() -> Iterator[bytes]:
    for path in _all_files():
        if path.suffix == ".safetensors" or path.parent.name == "safetensors":
            yield path.read_bytes()
    yield from _read(_files("safetensors"))


def _safetensors_index() -> Iterator[bytes]:
    for path in _all_files():
        if path.name.endswith(".safetensors.index.json"):
            yield path.read_bytes()


def _gguf() -> Iterator[bytes]:
    for data in _read(_all_files()):
        if data.startswith(b"GGUF"):
            yield data


def _chat_template() -> Iterator[bytes]:
    sys.path.insert(0, str(FIXTURES))
    try:
        from fixtures import chat_templates
    finally:
        sys.path.remove(str(FIXTURES))
    for source in [*chat_templates.BENIGN.values(), *chat_templates.MALICIOUS.values()]:
        yield source.encode("utf-8", "surrogatepass")
    yield from _read(_files("fuzz/chat_template"))  # past crashers


def _onnx() -> Iterator[bytes]:
    yield from _read(_files("onnx"))


def _json() -> Iterator[bytes]:
    for path in _all_files():
        if path.suffix == ".json":
            yield path.read_bytes()
        elif path.suffix == ".keras":
            yield from _zip_members(path.read_bytes(), lambda name: name.endswith(".json"))


def _compressed_keras() -> Iterator[bytes]:
    """A small .keras zip per compression method Python's zipfile (Keras' reader) supports."""
    config = b'{"class_name": "Sequential", "module": "keras", "config": {"layers": []}}'
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, body in (
                ("metadata.json", b'{"keras_version": "3.6.0"}'),
                ("config.json", config),
            ):
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = method
                archive.writestr(info, body)
        yield out.getvalue()


def _keras() -> Iterator[bytes]:
    yield from _compressed_keras()
    for path in _all_files():
        if path.suffix == ".keras":
            data = path.read_bytes()
            yield data
            yield from _zip_members(data, lambda name: name == "config.json")


def _hf_config() -> Iterator[bytes]:
    for path in _all_files():
        if path.name == "config.json":
            yield path.read_bytes()
    yield from _keras()


def _policy() -> Iterator[bytes]:
    yield from _read(sorted((REPO / "docs" / "policies").glob("*.yaml")))
    yield (REPO / "deploy" / "kubernetes" / "base" / "policy.yaml").read_bytes()
    yield from _read(_files("fuzz/policy"))  # past crashers


def _detect() -> Iterator[bytes]:
    yield from _read(_all_files())


CORPORA: dict[str, Callable[[], Iterable[bytes]]] = {
    "pickle": _pickle,
    "zip": _zip,
    "tar": _tar,
    "npy": _npy,
    "safetensors": _safetensors,
    "safetensors_index": _safetensors_index,
    "gguf": _gguf,
    "chat_template": _chat_template,
    "onnx": _onnx,
    "json": _json,
    "keras": _keras,
    "hf_config": _hf_config,
    "policy": _policy,
    "detect": _detect,
}


def seeds(name: str) -> list[bytes]:
    """The distinct seeds of corpus ``name`` no larger than :data:`MAX_SEED`, in a stable order."""
    seen: set[bytes] = set()
    out: list[bytes] = []
    for data in CORPORA[name]():
        if len(data) <= MAX_SEED and data not in seen:
            seen.add(data)
            out.append(data)
    return out


def build(name: str, dest: Path) -> Path:
    """Write the seeds of corpus ``name`` into ``dest`` (created), one file per seed."""
    dest.mkdir(parents=True, exist_ok=True)
    for data in seeds(name):
        (dest / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return dest
