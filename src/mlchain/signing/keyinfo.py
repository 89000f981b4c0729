"""Say what a PEM key file is, so a wrong key gets a sentence instead of a library's error.

model-signing signs and verifies with EC P-256, P-384 and P-521 keys only. Given an RSA or
Ed25519 key, or a public key where a private one is needed, it fails deep inside with errors like
``'...RSA' object has no attribute 'curve'``. :func:`key_problem` looks at the file first.
Nothing here is trusted: it only picks the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SUPPORTED = "EC P-256, P-384 or P-521"
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
KEYGEN_HINT = "`mlchain keygen` makes an EC P-256 pair (mlchain.key signs, mlchain.pub verifies)."


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a PEM file holds: ``part`` (public, private, encrypted) and the algorithm."""

    part: Literal["public", "private", "encrypted", "certificate"]
    algorithm: str | None = None
    """``EC P-256``, ``RSA``, ``Ed25519``... ``None`` when unknown (an encrypted key)."""

    @property
    def supported(self) -> bool:
        """Whether model signing can use a key of this algorithm."""
        return self.algorithm is not None and self.algorithm.removeprefix("EC ") in (
            "P-256",
            "P-384",
            "P-521",
        )


def inspect_key(data: bytes) -> KeyInfo | None:
    """Classify PEM ``data``; ``None`` when it is not a PEM key or certificate we can read."""
    from cryptography.hazmat.primitives import serialization

    if b"-----BEGIN CERTIFICATE-----" in data:
        return KeyInfo("certificate")
    if b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        return KeyInfo("encrypted")
    try:
        return KeyInfo("public", _algorithm(serialization.load_pem_public_key(data)))
    except (ValueError, TypeError):
        pass
    try:
        return KeyInfo("private", _algorithm(serialization.load_pem_private_key(data, None)))
    except (ValueError, TypeError):
        return None
    except Exception:  # unsupported algorithms raise their own types
        return None


def _algorithm(key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"EC {_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return "DSA"
    return type(key).__name__


def key_problem(path: Path, data: bytes, need: Literal["public", "private"]) -> str | None:
    """A one-paragraph message when ``data`` (read from ``path``) is the wrong kind of key.

    ``need`` is what the command uses: ``private`` to sign, ``public`` to verify. ``None`` when
    the file looks right, or when it cannot be classified (the signing code then reports it).
    """
    info = inspect_key(data)
    if info is None:
        return None
    if info.part == "certificate":
        if need == "public":
            return (
                f"{path} is a certificate, not a public key. Verify certificate-signed models "
                "with --certificate-chain CA.pem, or pass the EC public key with --key."
            )
        return (
            f"{path} is a certificate, not a private key. Sign with --key PRIVATE.pem "
            "(add --certificate CERT.pem to sign with a certificate)."
        )
    if info.part == "encrypted":
        if need == "public":
            return (
                f"{path} is an encrypted private key; verify --key needs the public key. "
                f"{KEYGEN_HINT}"
            )
        return None  # its algorithm shows only after decryption: the signer checks it then
    if info.part != need:
        if need == "private":
            return (
                f"{path} is a public key; signing needs the private key (--key PRIVATE.pem). "
                "Keep the public key for `mlchain verify --key`. " + KEYGEN_HINT
            )
        return (
            f"{path} is a private key; verify --key needs the public key. Give the .pub file "
            "made with it, or derive it: `openssl ec -in KEY -pubout -out KEY.pub`."
        )
    if not info.supported:
        what = "private" if info.part == "private" else "public"
        article = "a" if (info.algorithm or "").startswith("D") else "an"
        return (
            f"{path} is {article} {info.algorithm} {what} key; model signing (OpenSSF OMS) "
            f"supports only {SUPPORTED} keys. {KEYGEN_HINT}"
        )
    return None
