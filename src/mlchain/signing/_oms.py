"""The one adapter for model-signing internals: re-read this file on every model-signing upgrade.

mlchain uses model-signing's public ``hashing`` API and, where the public API cannot do what
mlchain needs (verify the signature step alone, sign an arbitrary in-toto statement with a key,
rebuild a manifest from a verified statement), its private ``model_signing._signing`` modules.
Every such import is here, together with model-signing's quirk of naming a single-file model
``"."`` in its manifest. ``pyproject.toml`` pins model-signing below its next major version.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

#: The names ``model_signing/__init__.py`` binds (1.x). ``tests/unit/signing/test_oms_package.py``
#: reads that file on every run and fails if it ever does more, so an upgrade is re-read here.
PACKAGE_MODULES = frozenset({"hashing", "manifest", "signing", "verifying"})
PACKAGE_NAMES = PACKAGE_MODULES | {"__version__", "__all__"}

_package_lock = threading.RLock()


def _package() -> None:
    """Register the ``model_signing`` package without running its ``__init__`` until it is needed.

    The package's ``__init__`` imports its public ``signing`` and ``verifying`` modules, which
    import every signer: sigstore's keyless client with its TUF, Rekor and pydantic models. A key
    or a certificate needs none of it, and it is a fifth of the deploy gate's CPU (0.18 s of
    0.66 s above one hashing pass; issue #19 item 7). So the package module is created from its
    spec and registered unexecuted; its submodules import as usual, each with its own imports.

    The package still behaves as itself for any other reader: a public module read as an
    attribute (``model_signing.signing``) is imported on the spot, and any other name
    (``__version__``) runs the real ``__init__`` first. Nothing changes if the package is already
    imported, or if this runs twice.
    """
    with _package_lock:
        if "model_signing" in sys.modules:
            return
        import importlib
        import importlib.util

        spec = importlib.util.find_spec("model_signing")
        if spec is None or spec.loader is None:
            return  # the import that follows raises the usual ModuleNotFoundError
        package = importlib.util.module_from_spec(spec)
        loader = spec.loader

        def lazy_attribute(name: str) -> Any:
            if name in PACKAGE_MODULES:
                return importlib.import_module(f"model_signing.{name}")
            with _package_lock:
                if "__all__" not in vars(package):  # the real __init__ has not run yet
                    loader.exec_module(package)
            try:
                return vars(package)[name]
            except KeyError:
                raise AttributeError(f"module 'model_signing' has no attribute {name!r}") from None

        package.__getattr__ = lazy_attribute  # type: ignore[method-assign]
        sys.modules["model_signing"] = package


def signing() -> ModuleType:
    """``model_signing._signing.signing`` (``Payload``, ``dsse_payload_to_manifest``)."""
    _package()
    from model_signing._signing import signing as module

    return module


def sign_ec_key() -> ModuleType:
    """``model_signing._signing.sign_ec_key`` (key ``Signer``/``Verifier``, hash choice)."""
    _package()
    from model_signing._signing import sign_ec_key as module

    return module


def sign_certificate() -> ModuleType:
    """``model_signing._signing.sign_certificate`` (certificate ``Signer``/``Verifier``)."""
    _package()
    from model_signing._signing import sign_certificate as module

    return module


def sign_sigstore() -> ModuleType:
    """``model_signing._signing.sign_sigstore`` (keyless ``Signer``)."""
    _package()
    from model_signing._signing import sign_sigstore as module

    return module


def sign_sigstore_pb() -> ModuleType:
    """``model_signing._signing.sign_sigstore_pb`` (``Signature``, ``pae``, bundle media type)."""
    _package()
    from model_signing._signing import sign_sigstore_pb as module

    return module


def allow_partial_chain(verifier: Any) -> None:
    """Let a certificate ``Verifier`` anchor at a given intermediate CA (OpenSSL partial chain).

    model-signing's store requires the root; mlchain pins the *issuing* CA, which may be given
    alone. The store is model-signing's private ``_store`` (an ``OpenSSL.crypto.X509Store``).
    """
    from OpenSSL import crypto

    verifier._store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)


def manifest_digests(manifest: Any, model_path: Path) -> dict[str, str]:
    """``{file name: hex digest}`` of a model-signing manifest.

    model-signing names the only file of a single-file model ``"."``; mlchain names it by its
    file name everywhere (results, subjects, messages).
    """
    digests = {str(d.identifier): str(d.digest.digest_hex) for d in manifest.resource_descriptors()}
    return display_names(model_path, digests)


def display_names(model_path: Path, digests: dict[str, str]) -> dict[str, str]:
    """Rename ``"."`` (and its shards ``".:start:end"``) to the file's name, for a single file."""
    if model_path.is_dir() or not all(n == "." or n.startswith(".:") for n in digests):
        return digests
    return {display_name(model_path, n): d for n, d in digests.items()}


def display_name(model_path: Path, identifier: str) -> str:
    """One manifest identifier as mlchain shows it (``"."`` is the single file's name)."""
    if identifier == ".":
        return model_path.name
    if identifier.startswith(".:") and not model_path.is_dir():  # a shard of a single file
        return model_path.name + identifier[1:]
    return identifier


def hashing_config() -> Any:
    """A new ``model_signing.hashing.Config`` (the public hashing API)."""
    _package()
    from model_signing import hashing

    return hashing.Config()  # type: ignore[no-untyped-call]


def manifest_from_digests(files: dict[str, str], model_name: str) -> Any:
    """A model-signing ``Manifest`` of (file name, sha256) pairs computed elsewhere.

    ``oci://`` models are signed by their layer digests: the registry's content addressing binds
    each digest to the bytes, so the weights need not be read. The per-file, sha256, no-symlink
    serialization is the one ``mlchain sign`` uses for folders.
    """
    _package()
    from model_signing import manifest as ms_manifest
    from model_signing._hashing import hashing

    serialization = ms_manifest._FileSerialization("sha256", False, ())
    items = [
        ms_manifest.FileManifestItem(
            path=Path(name), digest=hashing.Digest("sha256", bytes.fromhex(value))
        )
        for name, value in sorted(files.items())
    ]
    return ms_manifest.Manifest(model_name, items, serialization)


class _WatchedFile:
    """A file model-signing reads: every read is counted and may be cancelled first."""

    def __init__(self, raw: Any, count: Callable[[int], None], check: Callable[[], None]) -> None:
        self._raw = raw
        self._count = count
        self._check = check

    def read(self, size: int = -1) -> bytes:
        self._check()
        data: bytes = self._raw.read(size)
        self._count(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> _WatchedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


@contextmanager
def watched_reads(count: Callable[[int], None], check: Callable[[], None]) -> Iterator[None]:
    """While inside, model-signing's file hashers read through :class:`_WatchedFile`.

    ``SimpleFileHasher`` and ``ShardedFileHasher`` (``model_signing._hashing.io``) read files
    with ``open(path, "rb")`` and ``read(chunk)`` (1 MiB): a module-level ``open`` shadows the
    builtin there. ``check`` runs before each read (it raises to cancel), ``count`` after it.
    BLAKE3 reads through ``mmap`` and is neither counted nor cancelled mid-file.
    """
    import builtins

    _package()
    from model_signing._hashing import io as hashing_io

    def watched_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        raw = builtins.open(file, mode, *args, **kwargs)  # noqa: PTH123, SIM115 (closed by the wrapper)
        return _WatchedFile(raw, count, check) if "r" in mode else raw

    had = "open" in vars(hashing_io)
    previous = vars(hashing_io).get("open")
    hashing_io.open = watched_open  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            hashing_io.open = previous  # type: ignore[attr-defined]
        else:
            del hashing_io.open  # type: ignore[attr-defined]


def read_pinned_files(config: Any) -> None:
    """Make ``config`` hash every file pinned by the gate through its pinned descriptor.

    model-signing's serializers build one hasher per file (``io.SimpleFileHasher``) or per shard
    (``io.ShardedFileHasher``) through their private ``_serializer._hasher_factory``; each such
    hasher whose file is pinned (:func:`mlchain.pinned.active`) gets a ``compute`` that feeds the
    *same* content hasher (so the digest is exactly model-signing's) from the pinned descriptor
    instead of re-opening the name. Shard boundaries come from the name's size, so
    :func:`check_pinned_shards` then checks that they cover each pinned file exactly. Other
    hashers (blake3, files not pinned) are model-signing's own, untouched.
    """
    _package()
    from model_signing._hashing import io as oms_io
    from model_signing._serialization import file as oms_file
    from model_signing._serialization import file_shard as oms_shard

    from mlchain.pinned import active, hash_fd

    pins = active()
    serializer = getattr(config, "_serializer", None)
    if pins is None:
        return

    def pinned_compute(hasher: Any, fd: int, *, sharded: bool) -> Any:
        def compute() -> Any:
            from model_signing._hashing import hashing as oms_hashing

            engine = hasher._content_hasher
            engine.reset()
            if sharded:  # read at compute time: set_shard may have moved the shard
                hash_fd(fd, engine, start=hasher._start, end=hasher._end)
            else:
                hash_fd(fd, engine)
            return oms_hashing.Digest(hasher.digest_name, engine.compute().digest_value)

        return compute

    if isinstance(serializer, oms_shard.Serializer):
        shard_hasher = serializer._hasher_factory

        def shard_factory(path: Path, start: int, end: int) -> Any:
            hasher = shard_hasher(path, start, end)
            fd = pins.fd(path)
            if fd is not None and type(hasher) is oms_io.ShardedFileHasher:
                hasher.compute = pinned_compute(hasher, fd, sharded=True)  # type: ignore[method-assign]
            return hasher

        serializer._hasher_factory = shard_factory
    elif isinstance(serializer, oms_file.Serializer):
        inner = serializer._hasher_factory

        def factory(path: Path) -> Any:
            hasher = inner(path)
            fd = pins.fd(path)
            if fd is not None and type(hasher) is oms_io.SimpleFileHasher:
                hasher.compute = pinned_compute(hasher, fd, sharded=False)  # type: ignore[method-assign]
            return hasher

        serializer._hasher_factory = factory


def check_pinned_shards(manifest: Any, model_path: Path) -> None:
    """In a gate run, check that a sharded manifest's shards end where each pinned file ends.

    The shards were cut by the size of the file the *name* leads to, and hashed from the pinned
    descriptor: if the file was swapped or grown in between, the pinned bytes past the last shard
    would be deployed and scanned but never checked.

    Raises:
        ValueError: a pinned file's size is not the end of its last shard.
    """
    from mlchain.pinned import active

    pins = active()
    if pins is None or manifest.serialization_type.get("method") != "shards":
        return
    ends: dict[str, int] = {}
    for descriptor in manifest.resource_descriptors():
        identifier = str(descriptor.identifier)
        name = shard_file(identifier)
        ends[name] = max(ends.get(name, 0), shard_end(identifier))
    for name, end in ends.items():
        fd = pins.fd(model_path if name == "." else model_path / name)
        if fd is not None and os.fstat(fd).st_size != end:
            raise ValueError(f"{display_name(model_path, name)} changed while it was verified")


def shard_file(identifier: str) -> str:
    """The file a shard identifier (``path:start:end``) belongs to."""
    return identifier.rsplit(":", 2)[0]


def shard_end(identifier: str) -> int:
    """Where a shard (``path:start:end``) ends."""
    return int(identifier.rsplit(":", 1)[1])


def file_names(identifiers: Iterable[str], *, sharded: bool) -> list[str]:
    """The files a manifest's identifiers name, sorted, each once (shards folded)."""
    if not sharded:
        return sorted(identifiers)
    return sorted({shard_file(i) for i in identifiers})
