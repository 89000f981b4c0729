"""Checks mlchain adds on top of model-signing's certificate verifier (mlchain issue #15, item 4).

model-signing's ``sign_certificate.Verifier`` checks the DSSE signature and that the leaf chains
to *some* anchor in its store, at the leaf's own ``notBefore``, with the bundle's intermediates
trusted, and accepts KeyUsage digitalSignature **or** EKU codeSigning. So an expired certificate
verified forever, any sibling CA under the trusted root (a TLS or VPN CA) could sign models, and
TLS server certificates qualified. mlchain keeps model-signing's check (it is not forked) and then
requires, here:

- the **code-signing** extended key usage on the signing certificate;
- validity **now**: OMS certificate bundles carry no trusted timestamp, so the only trustworthy
  time is the verifier's clock (an expired or not-yet-valid leaf or CA is refused);
- that the leaf is issued by a certificate **given by the verifier** (the issuing CA is pinned:
  the bundle's own intermediates are not used to build the chain), with OpenSSL's partial-chain
  mode so an intermediate alone can be the anchor;
- optionally, the leaf's subject DN (exact or a whole-string regular expression).

It returns the SHA-256 fingerprints of the verifier's certificates the chain went through, so a
policy decision can name the chain that verified (never a DN string, which any CA can copy).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def check_signing_certificate(
    bundle: dict[str, Any],
    trusted_pem: list[bytes],
    *,
    identity: str | None = None,
    identity_regexp: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, ...]:
    """Check a certificate bundle's signing certificate; return the anchors' fingerprints.

    Args:
        bundle: the parsed bundle JSON (``verificationMaterial.x509CertificateChain``).
        trusted_pem: the verifier's CA files (PEM), the only certificates trusted.
        identity: the exact subject DN (RFC 4514) the leaf must have.
        identity_regexp: a regular expression the whole subject DN must match.
        now: the verification time (default: the current time).

    Raises:
        ValueError: why the certificate is not acceptable (a verification failure).
    """
    from OpenSSL import crypto

    moment = now or dt.datetime.now(dt.timezone.utc)
    try:
        raw = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
        leaf = x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"The bundle carries no readable signing certificate ({exc}).") from exc
    subject = leaf.subject.rfc4514_string()
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is None or ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise ValueError(
            f"The signing certificate {subject} is not a code-signing certificate (its extended "
            "key usage lacks codeSigning); a TLS or other certificate cannot sign models."
        )
    if moment < leaf.not_valid_before_utc or moment > leaf.not_valid_after_utc:
        raise ValueError(
            f"The signing certificate {subject} is not valid now (valid from "
            f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d}); "
            "certificate bundles carry no trusted timestamp, so an expired certificate is refused."
        )
    anchors: list[x509.Certificate] = []
    for pem in trusted_pem:
        try:
            anchors += x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise ValueError(
                f"A --certificate-chain file is not PEM certificates ({exc})."
            ) from exc
    store = crypto.X509Store()
    for cert in anchors:
        store.add_cert(crypto.X509.from_cryptography(cert))
    store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
    store.set_time(moment)
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(leaf), [])
    try:
        chain = context.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        raise ValueError(
            f"The signing certificate {subject} (issued by {leaf.issuer.rfc4514_string()}) is "
            f"not issued by a CA given for verification, or that CA is not valid now ({exc}). "
            "Give the issuing CA itself (not only its root): other CAs under the same root are "
            "not trusted to sign models."
        ) from exc
    used = {_fingerprint(c.to_cryptography()) for c in chain[1:]}
    prints = tuple(sorted(used & {_fingerprint(c) for c in anchors}))
    if identity is not None and subject != identity:
        raise ValueError(f"The model was signed by certificate {subject}, not {identity}.")
    if identity_regexp is not None and not re.fullmatch(identity_regexp, subject):
        raise ValueError(
            f"The model was signed by certificate {subject}, which does not match "
            f"/{identity_regexp}/."
        )
    return prints
