"""The one adapter for model-signing internals: re-read this file on every model-signing upgrade.

mlchain uses model-signing's public ``hashing`` API and, where the public API cannot do what
mlchain needs (verify the signature step alone, sign an arbitrary in-toto statement with a key,
rebuild a manifest from a verified statement), its private ``model_signing._signing`` modules.
Every such import is here, together with model-signing's quirk of naming a single-file model
``"."`` in its manifest. ``pyproject.toml`` pins model-signing below its next major version.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any


def signing() -> ModuleType:
    """``model_signing._signing.signing`` (``Payload``, ``dsse_payload_to_manifest``)."""
    from model_signing._signing import signing as module

    return module


def sign_ec_key() -> ModuleType:
    """``model_signing._signing.sign_ec_key`` (key ``Signer``/``Verifier``, hash choice)."""
    from model_signing._signing import sign_ec_key as module

    return module


def sign_certificate() -> ModuleType:
    """``model_signing._signing.sign_certificate`` (certificate ``Signer``/``Verifier``)."""
    from model_signing._signing import sign_certificate as module

    return module


def sign_sigstore() -> ModuleType:
    """``model_signing._signing.sign_sigstore`` (keyless ``Signer``)."""
    from model_signing._signing import sign_sigstore as module

    return module


def sign_sigstore_pb() -> ModuleType:
    """``model_signing._signing.sign_sigstore_pb`` (``Signature``, ``pae``, bundle media type)."""
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
    """Rename model-signing's ``"."`` to the file's name for a single-file model."""
    if set(digests) == {"."} and not model_path.is_dir():
        return {model_path.name: digests["."]}
    return digests


def display_name(model_path: Path, identifier: str) -> str:
    """One manifest identifier as mlchain shows it (``"."`` is the single file's name)."""
    return model_path.name if identifier == "." else identifier


def read_pinned_files(config: Any) -> None:
    """Make ``config`` hash every file pinned by the gate through its pinned descriptor.

    model-signing's per-file serializer builds one ``io.SimpleFileHasher`` per file through its
    private ``_serializer._hasher_factory``; each such hasher whose file is pinned
    (:func:`mlchain.pinned.active`) gets a ``compute`` that feeds the *same* content hasher (so
    the digest is exactly model-signing's) from the pinned descriptor instead of re-opening the
    name. Other hashers (blake3, shards, files not pinned) are model-signing's own, untouched.
    """
    from model_signing._hashing import io as oms_io
    from model_signing._serialization import file as oms_file

    from mlchain.pinned import active, hash_fd

    pins = active()
    serializer = getattr(config, "_serializer", None)
    if pins is None or not isinstance(serializer, oms_file.Serializer):
        return
    inner = serializer._hasher_factory

    def factory(path: Path) -> Any:
        hasher = inner(path)
        fd = pins.fd(path)
        if fd is None or type(hasher) is not oms_io.SimpleFileHasher:
            return hasher

        def compute() -> Any:
            from model_signing._hashing import hashing as oms_hashing

            engine = hasher._content_hasher
            engine.reset()
            hash_fd(fd, engine)
            return oms_hashing.Digest(hasher.digest_name, engine.compute().digest_value)

        hasher.compute = compute  # type: ignore[method-assign]
        return hasher

    serializer._hasher_factory = factory
