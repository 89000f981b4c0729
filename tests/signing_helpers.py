"""Test helpers for signing: EC keys, a tiny PKI with a code-signing leaf, small models."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PUBLIC_GOOD_IDENTITY = "stefanb@us.ibm.com"
PUBLIC_GOOD_ISSUER = "https://sigstore.verify.ibm.com/oauth2"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def write_key(
    folder: Path,
    name: str = "signer",
    curve: ec.EllipticCurve | None = None,
    password: bytes | None = None,
) -> KeyPair:
    """Generate an EC key (P-256 by default) and write PEM private/public files."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return write_pem_pair(key, folder / f"{name}.pem", folder / f"{name}.pub.pem", password)


def write_pem_pair(key: Any, private: Path, public: Path, password: bytes | None = None) -> KeyPair:
    """Write any private ``key`` (EC, RSA, Ed25519...) as PKCS#8 PEM and its public half."""
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


@dataclass(frozen=True)
class Pki:
    ca: Path
    """Root CA certificate (PEM): the verifier's root of trust."""
    leaf_key: Path
    leaf: Path
    chain: Path
    """What the signer ships in the bundle besides the leaf (here: the root)."""


def write_pki(folder: Path, name: str = "pki", code_signing: bool = True) -> Pki:
    """Write a root CA and a leaf certificate with the code-signing EKU."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} signer")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if code_signing:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    leaf = builder.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    paths = Pki(
        ca=folder / f"{name}-ca.pem",
        leaf_key=folder / f"{name}-leaf.key",
        leaf=folder / f"{name}-leaf.pem",
        chain=folder / f"{name}-chain.pem",
    )
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.chain.write_bytes(ca.public_bytes(pem))
    paths.leaf.write_bytes(leaf.public_bytes(pem))
    paths.leaf_key.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def make_model(folder: Path) -> Path:
    """A small model folder: two weights files, a config and a nested tokenizer."""
    model = folder / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "weights-1.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "weights-2.bin").write_bytes(b"\x02" * 3000)
    (model / "config.json").write_text('{"layers": 2}\n')
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    return model


def copy_writable(source: Path, target: Path) -> Path:
    """Copy a (possibly read-only) folder so that tests can tamper with it."""
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target
