"""Read-only inspection of Sigstore bundles: what kind of signature, who signed, which log entry.

Nothing here *verifies* anything: the facts are used to choose a verifier, to say who signed a
bundle when it is not who the user expected, and to fill the machine-readable result. Trust
decisions are made by sigstore-python and model-signing in :mod:`mlchain.signing.verify`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ObjectIdentifier

from mlchain.errors import MlchainError
from mlchain.inputfile import NotRegularFileError, read_regular_file

MethodKind = Literal["sigstore", "key", "certificate"]

_FULCIO_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_FULCIO_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SIGSTORE_OTHERNAME = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")
_BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""Largest bundle read. Real ones are kilobytes (a scan attestation carrying a report of thousands
of files, a few MiB); the files sit beside the model, so their size is the publisher's choice."""


def read_bundle_text(path: Path) -> str:
    """Read a signature or attestation bundle as UTF-8 text, bounded by :data:`MAX_BUNDLE_BYTES`.

    A FIFO, socket or device is refused at once, never opened for a blocking read
    (:func:`mlchain.inputfile.read_regular_file`).

    Raises:
        OSError: the file cannot be read (``FileNotFoundError`` when it is missing).
        ValueError: it is not a regular file (``NotRegularFileError``), larger than the bound,
            or not UTF-8 (``UnicodeDecodeError``).
    """
    try:
        data = read_regular_file(path, limit=MAX_BUNDLE_BYTES)
    except NotRegularFileError:
        raise
    except ValueError:
        raise ValueError(f"larger than {MAX_BUNDLE_BYTES} bytes; not a Sigstore bundle") from None
    return data.decode("utf-8")


class BundleError(MlchainError):
    """The signature file is unreadable or is not a Sigstore bundle (exit 3: could not check)."""

    hint = (
        "Check the --signature path; re-create the signature with `mlchain sign` if the file "
        "was truncated or is not a Sigstore bundle."
    )
    exit_code = 3


@dataclass(frozen=True, slots=True)
class LogEntry:
    """The transparency-log entry recorded in a keyless bundle."""

    log_index: int
    integrated_time: int
    log_id: str
    """Hex of the log's key id."""

    def to_json(self) -> dict[str, Any]:
        """Return the JSON shape used in verification results."""
        return {
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
            "log_id": self.log_id,
        }


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """Who (or which key) a bundle *claims* signed it; trustworthy only after verification."""

    method: MethodKind
    subject: str | None = None
    """Identity (certificate SAN) for keyless; subject DN for certificate bundles."""
    issuer: str | None = None
    """OIDC issuer for keyless; issuer DN for certificate bundles."""
    key_fingerprint: str | None = None
    """sha256 (hex) of the SubjectPublicKeyInfo DER of the signing key."""
    log_entry: LogEntry | None = None

    @property
    def signed_at(self) -> str | None:
        """RFC 3339 time the log integrated the entry, when there is one."""
        if self.log_entry is None:
            return None
        when = dt.datetime.fromtimestamp(self.log_entry.integrated_time, tz=dt.timezone.utc)
        return when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """A bundle's JSON text with the facts read from it (unverified)."""

    text: str
    data: dict[str, Any]
    signer: SignerInfo
    payload_type: str
    payload: bytes
    """The DSSE payload, undecoded and unverified."""


def parse_bundle(text: str, *, source: str) -> ParsedBundle:
    """Parse a Sigstore bundle JSON (v0.2/v0.3 with a DSSE envelope) without verifying it.

    Args:
        text: the bundle JSON.
        source: where it came from, for messages.

    Raises:
        BundleError: if it is not JSON or not a DSSE Sigstore bundle.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting ([[[[...]]]])
        raise BundleError(
            f"{source} is not valid JSON (or is nested too deeply), so it is not a Sigstore bundle."
        ) from None
    if not isinstance(data, dict) or not str(data.get("mediaType", "")).startswith(
        _BUNDLE_MEDIA_PREFIX
    ):
        raise BundleError(f"{source} is not a Sigstore bundle (no bundle mediaType).")
    try:
        material = data["verificationMaterial"]
        envelope = data["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = str(envelope["payloadType"])
        signer = _signer_from_material(material)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BundleError(
            f"{source} is a malformed Sigstore bundle ({type(exc).__name__}: {exc}); "
            "mlchain expects a DSSE envelope and verification material."
        ) from exc
    return ParsedBundle(
        text=text, data=data, signer=signer, payload_type=payload_type, payload=payload
    )


def spki_fingerprint(key: PublicKeyTypes) -> str:
    """Return the sha256 (hex) of a public key's SubjectPublicKeyInfo DER encoding."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def certificate_identity(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """Return the (identity, OIDC issuer) a Fulcio certificate was issued for.

    The identity is the first SAN email, URI or Sigstore other-name; the issuer comes from the
    Fulcio issuer extension (v2 DER form preferred, then the legacy raw form).
    """
    identities = certificate_identities(cert)
    return (identities[0] if identities else None), fulcio_issuer(cert)


def fulcio_issuer(cert: x509.Certificate) -> str | None:
    """Return the OIDC issuer recorded by Fulcio in ``cert``, or ``None``."""
    for oid, der in ((_FULCIO_ISSUER_V2, True), (_FULCIO_ISSUER_V1, False)):
        try:
            ext = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = getattr(ext, "value", b"")
        text = _der_utf8(raw) if der else raw.decode("utf-8", "replace")
        if text:
            return text
    return None


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """Return every identity (SAN) in ``cert``, for identity matching."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [*san.get_values_for_type(x509.RFC822Name)]
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    names += [
        _der_utf8(o.value) or ""
        for o in san.get_values_for_type(x509.OtherName)
        if o.type_id == _SIGSTORE_OTHERNAME
    ]
    return [n for n in names if n]


def _der_utf8(raw: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0c); ``None`` if it is not one."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    return raw[offset : offset + length].decode("utf-8", "replace")


def _signer_from_material(material: dict[str, Any]) -> SignerInfo:
    if "certificate" in material:  # v0.3 keyless: one leaf certificate, Rekor entry
        cert = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
        identity, issuer = certificate_identity(cert)
        return SignerInfo(
            method="sigstore",
            subject=identity,
            issuer=issuer,
            log_entry=_log_entry(material.get("tlogEntries") or []),
        )
    if "x509CertificateChain" in material:
        certs = material["x509CertificateChain"]["certificates"]
        leaf = x509.load_der_x509_certificate(base64.b64decode(certs[0]["rawBytes"]))
        if material.get("tlogEntries"):  # v0.1/v0.2 keyless bundles carry the chain
            identity, issuer = certificate_identity(leaf)
            return SignerInfo(
                method="sigstore",
                subject=identity,
                issuer=issuer,
                log_entry=_log_entry(material["tlogEntries"]),
            )
        return SignerInfo(
            method="certificate",
            subject=leaf.subject.rfc4514_string(),
            issuer=leaf.issuer.rfc4514_string(),
            key_fingerprint=spki_fingerprint(leaf.public_key()),
        )
    if "publicKey" in material:
        return SignerInfo(method="key")
    raise ValueError("no certificate, certificate chain or public key")


def _log_entry(entries: list[dict[str, Any]]) -> LogEntry | None:
    if not entries:
        return None
    entry = entries[0]
    return LogEntry(
        log_index=int(entry["logIndex"]),
        integrated_time=int(entry.get("integratedTime", 0)),
        log_id=base64.b64decode(entry["logId"]["keyId"]).hex(),
    )
